/*
 * journal_test.c: which journal entries are the MTA's, by their
 * SYSLOG_IDENTIFIER (Postfix, its multi-instance names, Exim), and the
 * offline reader on a path that is no journal.
 */
#include "tests/collector/smtp_testlib.h"
#include "collector/journal.h"

static int mta(const char *id)
{
	return journal_ident_mta((const uint8_t *)id, strlen(id));
}

static void test_postfix(void **state)
{
	(void)state;
	static const char *const yes[] = {
	        "postfix",
	        "postfix/smtpd",
	        "postfix/postscreen",
	        "postfix/submission/smtpd",
	        "postfix-out/smtpd",
	        "postfix-out/qmgr",
	        "postfix-mx.2_a/smtpd",
	        "postfix-in/submission/smtpd",
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(yes); i++) {
		if (mta(yes[i]) != JOURNAL_MTA_POSTFIX)
			fail_msg("%s is Postfix", yes[i]);
	}
}

static void test_not_mta(void **state)
{
	(void)state;
	static const char *const no[] = {
	        "",
	        "postfi",
	        "postfixadmin",
	        "postfix-",
	        "postfix-out",
	        "postfix/",
	        "postfix-/x",
	        "postfix-out/",
	        "postfix x",
	        "postfix/smtpd x",
	        "Postfix",
	        "sshd",
	        "eximstats",
	        "exim-x",
	        "exi",
	        "postfix\n/a",
	        "postfix/a]b",
	        "xpostfix/smtpd",
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(no); i++) {
		if (mta(no[i]) != JOURNAL_MTA_NONE)
			fail_msg("\"%s\" is not an MTA", no[i]);
	}
	assert_int_equal(journal_ident_mta(NULL, 0), JOURNAL_MTA_NONE);
	/* Length, not NUL, ends the identifier. */
	assert_int_equal(journal_ident_mta((const uint8_t *)"postfix/smtpd", 8), JOURNAL_MTA_NONE);
	assert_int_equal(journal_ident_mta((const uint8_t *)"postfix/smtpd", 7),
	                 JOURNAL_MTA_POSTFIX);
}

static void test_exim(void **state)
{
	(void)state;
	assert_int_equal(mta("exim"), JOURNAL_MTA_EXIM);
	assert_int_equal(mta("exim4"), JOURNAL_MTA_EXIM);
	assert_int_equal(mta("exim5"), JOURNAL_MTA_NONE);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct collector_smtp_conf conf;
	struct collector_smtp *p = NULL;
	struct obs_vec ov = {0};
	struct collector_sink sink = {.emit = obs_vec_emit, .arg = &ov};
	struct collector_smtp_opts opts = {.format = -1};
	smtp_conf_defaults(&conf, NULL);
	RN_PASS(collector_smtp_alloc(&p, &conf, &opts, &sink));
	const char *missing[] = {"/nonexistent/x.journal"};
	RN_FAILS(collector_smtp_read_journal(p, missing, 1));
	/* A directory must be the only path. */
	const char *mixed[] = {"/tmp", "/nonexistent/x.journal"};
	RN_FAILS(collector_smtp_read_journal(p, mixed, 2));
	assert_int_equal(ov.n, 0);
	collector_smtp_free(p);
	smtp_conf_release(&conf);
}

RN_TEST_MAIN(test_postfix, test_not_mta, test_exim, test_open_errors)
