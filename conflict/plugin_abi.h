/* The C interface between Meridian and merge-callback plugins (shared libraries).
 *
 * A plugin exports one function:
 *
 *   int meridian_plugin_init(void* registrar, meridian_register_fn register_callback);
 *
 * which calls register_callback(registrar, "<name>", fn) once per callback it provides and
 * returns 0 (non-zero aborts start-up). Meridian loads plugins named in its configuration
 * (--plugin=PATH) at start-up; a collection defined with {"policy":"merge","merge":"<name>"}
 * then resolves conflicts with that callback.
 *
 * A callback receives the siblings as UTF-8 JSON text (see conflict::SiblingsJson: an
 * array of {"version", "value", "deleted", "hlc", "origin", "context"} in canonical order)
 * and answers exactly once: emit(result, json, length) with the merged document (a JSON
 * object, or null for "deleted"), or fail(result, message). The text passed in is valid
 * only during the call; emit copies what it is given. Callbacks must be deterministic and
 * pure (see conflict/merge.h), must not throw across this boundary, and must return within
 * the region's time budget (--merge-budget-ms, default 100 ms) or their answer is ignored.
 */
#ifndef MERIDIAN_CONFLICT_PLUGIN_ABI_H_
#define MERIDIAN_CONFLICT_PLUGIN_ABI_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct MeridianMergeResult MeridianMergeResult;
typedef void (*meridian_emit_fn)(MeridianMergeResult* result, const char* json, size_t length);
typedef void (*meridian_fail_fn)(MeridianMergeResult* result, const char* message);
typedef void (*meridian_merge_fn)(const char* siblings_json, size_t length, MeridianMergeResult* result,
                                  meridian_emit_fn emit, meridian_fail_fn fail);
typedef int (*meridian_register_fn)(void* registrar, const char* name, meridian_merge_fn callback);
typedef int (*meridian_plugin_init_fn)(void* registrar, meridian_register_fn register_callback);

#define MERIDIAN_PLUGIN_INIT_SYMBOL "meridian_plugin_init"

#ifdef __cplusplus
}
#endif

#endif /* MERIDIAN_CONFLICT_PLUGIN_ABI_H_ */
