/*
 * conf_int.h: the internal contract between the configuration files of
 * proto (conf.c: the loader; conf_value.c: typed values; conf_dump.c: the
 * tables as text). Internal to proto; the public API is in proto.h.
 *
 * A key's field lives in its section's struct at base + offset. Every
 * function here works on one field of one key, owns nothing beyond that
 * field's own allocations (strings and lists, freed by
 * conf_field_release()), and is safe from any thread that owns the field.
 */
#ifndef REPNET_PROTO_CONF_INT_H
#define REPNET_PROTO_CONF_INT_H

#include "proto/proto.h"

/* The field of key in section sec, writable or read-only. */
#define CONF_FIELD(sec, key)  ((void *)((char *)(sec)->base + (key)->offset))
#define CONF_CFIELD(sec, key) ((const void *)((const char *)(sec)->base + (key)->offset))

/* The empty value of k's type (NULL strings, empty lists); allocates nothing. */
void conf_field_zero(const struct rn_conf_key *k, void *f);
/* Frees what k's field holds (strings, lists, custom release) and empties it. */
void conf_field_release(const struct rn_conf_key *k, void *f);

/* True for the types whose value is a list (strings, prefixes, flags). */
bool conf_is_list_type(enum rn_conf_type t);
/*
 * Sets k's field from text within k's bounds: a scalar, or a whole list
 * (comma-separated; it replaces the list). Returns RN_OK, RN_ECONF with
 * the reason in msg, -ENOMEM, or RN_EINTERNAL for a custom key.
 */
int conf_value_set_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
                        size_t msglen);
/* Adds one element, given as text, to the list k's field holds; as above. */
int conf_elem_add_text(const struct rn_conf_key *k, void *f, const char *s, char *msg,
                       size_t msglen);
/* k's enum names as "a, b, c" in buf (cut at len). */
void conf_enum_choices(const struct rn_conf_key *k, char *buf, size_t len);

#endif /* REPNET_PROTO_CONF_INT_H */
