/* products_json — see products_json.h. */
#include "products_json.h"

#include <stdio.h>

#include "guid.h"
#include "products_file.h"
#include "timeutil.h"

json_t *products_json_table(const struct products_tables *t)
{
    char hex[PRODUCTS_FILE_SHA256_HEX];
    products_file_sha256_hex(t, hex);
    return json_pack("{s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:I}", "source", t->source, "builtin",
                     t == products_builtin(), "sha256", hex, "applications", (json_int_t)t->app_count, "kms",
                     (json_int_t)t->kms_count, "skus", (json_int_t)t->sku_count, "csvlks", (json_int_t)t->csvlk_count,
                     "builds", (json_int_t)t->build_count);
}

/* A release date as YYYY-MM-DD (products_load keeps them within 1980-2100). */
static json_t *date_json(int64_t unix_s)
{
    char text[TIMEUTIL_UTC_TEXT_MAX];
    timeutil_format_utc(unix_s, TIMEUTIL_UTC_DAY, text);
    return json_string(text);
}

static json_t *guid_json(const struct guid *g)
{
    char text[GUID_TEXT_LEN + 1];
    guid_format(g, text);
    return json_string(text);
}

static json_t *app_json(const struct products_app *a)
{
    return json_pack("{s:s, s:o, s:s, s:I, s:s, s:I, s:s}", "key", a->key, "id", guid_json(&a->id), "name", a->name,
                     "min_active_clients", (json_int_t)a->min_active_clients, "default_csvlk", a->default_csvlk->key,
                     "count_group", (json_int_t)a->count_group, "group_label", a->group_label);
}

static json_t *kms_json(const struct products_kms *k)
{
    json_t *cs = json_array();
    for (size_t i = 0; i < k->csvlk_count; i++)
        json_array_append_new(cs, json_string(k->csvlks[i]->key));
    return json_pack("{s:o, s:s, s:s, s:I, s:I, s:b, s:b, s:s?, s:o, s:s}", "id", guid_json(&k->id), "name", k->name,
                     "application", k->app->key, "required_clients", (json_int_t)k->n_policy, "protocol",
                     (json_int_t)k->protocol, "retail", k->retail, "preview", k->preview, "office_folder",
                     k->office_folder, "csvlks", cs, "epid_csvlk", k->epid_csvlk->key);
}

static json_t *sku_json(const struct products_sku *s)
{
    json_t *al = json_array();
    for (size_t i = 0; i < s->alias_count; i++)
        json_array_append_new(al, json_string(s->aliases[i]));
    return json_pack("{s:o, s:s, s:s, s:o, s:s?, s:b, s:o, s:s}", "id", guid_json(&s->id), "name", s->name, "alias",
                     s->alias, "aliases", al, "gvlk", s->gvlk, "gvlk_generated", s->gvlk_generated, "kms_id",
                     guid_json(&s->kms->id), "application", s->kms->app->key);
}

static json_t *csvlk_json(const struct products_csvlk *c)
{
    json_t *act = json_array();
    for (size_t i = 0; i < c->activate_count; i++)
        json_array_append_new(act, guid_json(&c->activates[i]->id));
    json_t *o = json_pack("{s:s, s:s, s:o, s:b, s:b, s:o}", "key", c->key, "name", c->name, "released",
                          date_json(c->released), "lab", c->lab, "preview", c->preview, "activates", act);
    if (o) /* the ePID data, null when unknown */
        json_object_set_new(o, "epid", c->has_epid ? json_pack("{s:I, s:I, s:I}", "group", (json_int_t)c->group,
                                                               "key_min", (json_int_t)c->key_min, "key_max",
                                                               (json_int_t)c->key_max)
                                                   : json_null());
    return o;
}

static json_t *build_json(const struct products_build *b)
{
    return json_pack("{s:I, s:I, s:s, s:o, s:b, s:b, s:b}", "build", (json_int_t)b->build, "platform",
                     (json_int_t)b->platform, "name", b->name, "released", date_json(b->released), "ndr64", b->ndr64,
                     "server", b->server, "epid", b->epid);
}

json_t *products_json_all(const struct products_tables *t)
{
    json_t *apps = json_array(), *kms = json_array(), *skus = json_array(), *csvlks = json_array(),
           *builds = json_array();
    for (size_t i = 0; i < t->app_count; i++)
        json_array_append_new(apps, app_json(&t->apps[i]));
    for (size_t i = 0; i < t->kms_count; i++)
        json_array_append_new(kms, kms_json(&t->kms[i]));
    for (size_t i = 0; i < t->sku_count; i++)
        json_array_append_new(skus, sku_json(&t->skus[i]));
    for (size_t i = 0; i < t->csvlk_count; i++)
        json_array_append_new(csvlks, csvlk_json(&t->csvlks[i]));
    for (size_t i = 0; i < t->build_count; i++)
        json_array_append_new(builds, build_json(&t->builds[i]));
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "table", products_json_table(t), "applications", apps, "kms",
                     kms, "skus", skus, "csvlks", csvlks, "builds", builds);
}
