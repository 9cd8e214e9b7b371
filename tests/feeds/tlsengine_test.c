/*
 * tlsengine_test.c: the bus TLS engine's classification of failed
 * handshakes (feeds/bus/tls.c); the handshakes themselves are
 * tests/feeds/tls_fail_test.sh, with real certificates and daemons.
 */
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "feeds/bus/socket.h"
#include "test.h"

static void test_classify(void **state)
{
	(void)state;
	static const struct {
		int err;
		uint32_t flags;
		bool io;
		enum feeds_tls_reason want;
	} cases[] = {
	        {MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE, 0, false, FEEDS_TLS_NO_CERT},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_MISSING, false,
	         FEEDS_TLS_NO_CERT},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_NOT_TRUSTED, false,
	         FEEDS_TLS_UNTRUSTED},
	        /* Untrusted wins over a name that does not match either. */
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
	         MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_CN_MISMATCH, false,
	         FEEDS_TLS_UNTRUSTED},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_CN_MISMATCH, false,
	         FEEDS_TLS_NAME_MISMATCH},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_EXPIRED, false,
	         FEEDS_TLS_EXPIRED},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_FUTURE, false,
	         FEEDS_TLS_EXPIRED},
	        {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, false,
	         FEEDS_TLS_BAD_CERT},
	        {MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, 0, false, FEEDS_TLS_REFUSED},
	        {MBEDTLS_ERR_SSL_CONN_EOF, 0, false, FEEDS_TLS_CLOSED},
	        {MBEDTLS_ERR_NET_RECV_FAILED, 0, true, FEEDS_TLS_CLOSED},
	        {0, 0, true, FEEDS_TLS_CLOSED},
	        {MBEDTLS_ERR_SSL_INVALID_RECORD, 0, false, FEEDS_TLS_NOT_TLS},
	        {MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO, 0, false, FEEDS_TLS_NOT_TLS},
	        {MBEDTLS_ERR_SSL_INTERNAL_ERROR, 0, false, FEEDS_TLS_OTHER},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(cases); i++) {
		enum feeds_tls_reason r =
		        feeds_bus_tls_classify(cases[i].err, cases[i].flags, cases[i].io);
		if (r != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, feeds_bus_tls_reason_name(r),
			         feeds_bus_tls_reason_name(cases[i].want));
	}
}

/* Every reason has its own label, as repnet_bus_tls_failures_total uses them. */
static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < FEEDS_TLS_R_COUNT; i++) {
		const char *n = feeds_bus_tls_reason_name(i);
		assert_non_null(n);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, feeds_bus_tls_reason_name(j));
	}
	assert_string_equal(feeds_bus_tls_reason_name(FEEDS_TLS_R_COUNT), "other");
}

/* The engine registers with nng once; its counters then exist (at 0 for a fresh reason). */
static void test_engine(void **state)
{
	(void)state;
	RN_PASS(feeds_bus_tls_engine());
	RN_PASS(feeds_bus_tls_engine());
	assert_string_equal(nng_tls_engine_name(), "repnet-mbedtls");
	assert_int_equal(feeds_bus_tls_failures(true, FEEDS_TLS_EXPIRED), 0);
}

RN_TEST_MAIN(test_classify, test_names, test_engine)
