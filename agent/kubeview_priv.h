/*
 * kubeview_priv.h - between kubeview.c (the view) and kvdecode.c (one
 * slice's JSON): not for other files.
 */
#ifndef NDT_KUBEVIEW_PRIV_H
#define NDT_KUBEVIEW_PRIV_H

#include <stddef.h>

#include <jansson.h>

#define KV_SVC_LABEL	"kubernetes.io/service-name"

/* obj[key]: a string into dst (0; absent or null: ""; -1 wrong type, too
 * long, or need and empty), is s (1, 0, -1 wrong type), its "kind" is want
 * or absent (1, 0), an object or absent (0, out NULL when absent; -1) */
int	kv_js_copy(json_t *o, const char *key, char *dst, size_t size,
	    int need);
int	kv_js_is(json_t *o, const char *key, const char *s);
int	kv_js_kind(json_t *o, const char *want);
int	kv_js_obj(json_t *o, const char *key, json_t **out);
/*
 * obj's metadata into s (name), rv (resourceVersion) and ns (namespace):
 * 0, or -1 when of the wrong type, too long, or (need_name, need_rv)
 * missing.
 */
int	kv_meta(json_t *obj, struct kv_slice *s, char *rv, char *ns,
	    int need_name, int need_rv);
/* a whole EndpointSlice into s (zeroed first): 0 or -1 (not usable) */
int	kv_slice_decode(const struct kubeview *kv, json_t *obj,
	    struct kv_slice *s, char *rv, int need_rv);

#endif
