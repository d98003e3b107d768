/*
 * envexp.h - ${VAR} expansion of config values, and the values it put in.
 *
 * A config may take a secret from the environment: a token in a header, a
 * password in a URL, an argument of an exec command. Output never shows
 * the expanded config (config_print shows the text as written), but a
 * check's output can echo the value: an exec check's stderr, a server's
 * answer, curl's error. So config loading records every value ${VAR} put
 * into a string field (struct config's cf_secrets, swapped with the config
 * at reload), and check outputs and their logs are masked with env_mask()
 * before anyone sees them.
 */
#ifndef NDT_ENVEXP_H
#define NDT_ENVEXP_H

#include <stddef.h>

#define ENV_SECRET_MIN	4	/* bytes: shorter values are not masked */
#define ENV_MASK	"***"	/* what a value becomes in output */

struct env_secret {
	char		*sv_val;
	size_t		 sv_len;	/* >= ENV_SECRET_MIN */
};

struct env_secrets {
	struct env_secret *sc_v;	/* distinct values, longest first */
	size_t		 sc_n;
};

/* expand ${VAR} from the environment; "$$" is a literal "$". On an unset
 * variable or a syntax error returns -1 with a message in err.
 * *used_var is set when at least one ${VAR} was expanded. */
int		 env_expand(const char *in, char **out, int *used_var,
		    char *err, size_t errlen);
/* the same, and each value put in goes into rec too (when not NULL);
 * running out of memory there is an error, never a value left out */
int		 env_expand_rec(const char *in, char **out, int *used_var,
		    struct env_secrets *rec, char *err, size_t errlen);
/* record one value (n bytes); shorter than ENV_SECRET_MIN or known: no-op;
 * 0 or -1 (out of memory) */
int		 env_secrets_add(struct env_secrets *, const char *, size_t n);
void		 env_secrets_free(struct env_secrets *);

/* buf may begin inside a value (the head of the text was cut off): the
 * longest tail of a value found at its start is masked too */
#define ENV_MASK_HEAD	0x1u
/*
 * Replace every occurrence of a recorded value in buf[0..len) by ENV_MASK,
 * in place (the text only shrinks); the new length. Bytes, not strings: a
 * NUL in buf is data. Cost: values x len; only failures' outputs (a few
 * KiB at most) are masked.
 */
size_t		 env_mask(const struct env_secrets *, char *buf, size_t len,
		    unsigned flags);
/* the same on a NUL-terminated string */
void		 env_mask_str(const struct env_secrets *, char *);

#endif
