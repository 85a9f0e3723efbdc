/*
 * policy.h - which model may serve a request, and with which strategies.
 *
 * A small JSON file (models/policy.json is the documented default) maps the
 * probe's category and confidence and the prompt's length to a serving model
 * and a set of allowed strategies; the cost model then ranks the allowed ones.
 * It also carries the acceptance priors per category the cost model starts
 * from before online statistics exist. Validation is strict: an unknown model,
 * strategy, category or key type is an error naming the file and the field.
 */
#ifndef AION_POLICY_H
#define AION_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "costmodel.h"

#define POLICY_MAX_CATEGORIES 8

typedef struct policy_route {
    char model[64];
    unsigned strategies; /* bit (1 << DECODE_X) per allowed strategy; ar is always allowed */
} policy_route;

typedef struct policy {
    char probe_model[64];
    int probe_format;               /* enum probe_format */
    int probe_window;               /* prompt tokens the probe reads of a long prompt (0: all) */
    float min_confidence;           /* below: the fallback route */
    int long_prompt_tokens;         /* above: the fallback route */
    int revisit_rounds;             /* the strategy is reconsidered every this many rounds */
    float hysteresis;               /* switch only when the best beats the current by this fraction */
    int n_categories;
    char categories[POLICY_MAX_CATEGORIES][24];
    policy_route routes[POLICY_MAX_CATEGORIES];
    policy_route fallback;
    accept_profile lookup_prior[POLICY_MAX_CATEGORIES], spec_prior[POLICY_MAX_CATEGORIES];
} policy;

/* The probe window for a prompt: a prompt the length rule sends to the fallback anyway is probed
 * on its tail only (its category still picks the strategy's priors); a shorter one is read whole,
 * so that the probe model's cache of it can serve or draft. 0: read it all. */
int policy_probe_window(const policy *p, int prompt_tokens);

/* Parses and validates; model_names are the pool's members. Returns 0, or -1 with err. */
int policy_parse(policy *p, const char *json_text, const char *source_name, const char *const *model_names,
                 int n_models, char *err, size_t err_len);
int policy_load(policy *p, const char *path, const char *const *model_names, int n_models, char *err, size_t err_len);

int policy_category_index(const policy *p, const char *name); /* -1 if unknown */

/* The route for a probed request; *reason says why ("category code", "low confidence", "long prompt"). */
const policy_route *policy_decide(const policy *p, int category, float confidence, int prompt_tokens,
                                  const char **reason);

#endif
