#!/usr/bin/env python3
"""Validate data/products.tsv and compile it into the C tables behind src/common/products.h.

Usage: gen_products.py INPUT OUTPUT

The format is described in the header comment of data/products.tsv and in data/README.md. Every problem is
reported as "FILE:LINE: error: ..." on stderr and makes the script exit with status 1 without writing OUTPUT.
The output depends only on the input (no time stamps, no hash-order iteration), so builds are reproducible.
Python 3 standard library only.

kmsd applies the same rules at run time to a file given with --products-file: src/common/products_load.c is a
port of read_records() and build_model() below, rule for rule and message for message, and
tests/common/test_products.c runs both on every table it breaks and requires the same errors on the same lines.
A change to a rule here is a change there too (and a case in that test).
"""

import datetime
import hashlib
import os
import re
import sys
import uuid

# Field names per record type, the record type itself excluded. The last field is always the display name.
LAYOUT = {
    'app': ('key', 'id', 'min_active_clients', 'default_csvlk', 'count_group', 'group_label', 'name'),
    'kms': ('id', 'app', 'n_policy', 'protocol', 'flags', 'name'),
    'sku': ('id', 'kms_id', 'aliases', 'gvlk', 'flags', 'name'),
    'csvlk': ('key', 'group', 'key_min', 'key_max', 'released', 'flags', 'name'),
    'activates': ('csvlk_key', 'kms_id'),
    'build': ('number', 'platform', 'released', 'flags', 'name'),
}
# kms flags naming the folder of an Office version's OSPP.VBS (Office14 = 2010, Office15 = 2013, Office16 =
# 2016 and later); the client commands for its SKUs are ospp.vbs ones instead of slmgr.
OFFICE_FOLDERS = ('office14', 'office15', 'office16')
FLAGS = {
    'kms': ('retail', 'preview') + OFFICE_FOLDERS,
    'sku': ('gengvlk',),
    'csvlk': ('lab', 'preview'),
    'build': ('ndr64', 'server', 'epid'),
}
PROTOCOLS = (4, 5, 6)
GUID_RE = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z')
GVLK_RE = re.compile(r'[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}\Z')
LABEL_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9 +.-]{0,15}\Z')  # application count-group labels
KEY_RE = re.compile(r'[a-z0-9][a-z0-9-]{0,31}\Z')  # app keys, CSVLK keys and SKU aliases
INT_RE = re.compile(r'(?:0|[1-9][0-9]{0,9})\Z')
DATE_RE = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}\Z')
NAME_MAX = 120
# Size limits, the same as src/common/products_load.h's PRODUCTS_LOAD_* (the unit test checks both at limit and
# limit + 1): the file's bytes, one line's bytes without its newline, and the records of each kind (kmsd keeps
# one ePID per CSVLK; every count stays far below the uint16_t sorted indexes' 65535).
FILE_MAX = 1024 * 1024
LINE_MAX = 1024
RECORDS_MAX = {'app': 100, 'kms': 1024, 'sku': 4096, 'csvlk': 128, 'build': 256}
EPOCH = datetime.date(1970, 1, 1)


class Errors:
    def __init__(self, path):
        self.path = path
        self.items = []

    def add(self, line, msg):
        where = '%s:%d' % (self.path, line) if line else self.path
        self.items.append((line or 0, '%s: error: %s' % (where, msg)))

    def report(self):
        for _, text in sorted(self.items, key=lambda item: item[0]):
            print(text, file=sys.stderr)


class Record:
    def __init__(self, kind, line, fields):
        self.kind = kind
        self.line = line
        for name, value in zip(LAYOUT[kind], fields):
            setattr(self, name, value)


# ------------------------------------------------------------------------------------------------ field parsers
# Each returns the parsed value, or None after recording an error.

def p_guid(err, rec, field):
    text = getattr(rec, field)
    if not GUID_RE.match(text):
        err.add(rec.line, '%s: bad GUID %r (want lower-case 8-4-4-4-12 hex)' % (field, text))
        return None
    if text == '00000000-0000-0000-0000-000000000000':
        err.add(rec.line, '%s: the all-zero GUID is not an id' % field)
        return None
    return text


def p_int(err, rec, field, lo, hi):
    text = getattr(rec, field)
    if not INT_RE.match(text):
        err.add(rec.line, '%s: %r is not a decimal number' % (field, text))
        return None
    value = int(text)
    if not lo <= value <= hi:
        err.add(rec.line, '%s: %d outside %d..%d' % (field, value, lo, hi))
        return None
    return value


def p_date(err, rec, field):
    text = getattr(rec, field)
    if DATE_RE.match(text):
        try:
            day = datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
            if 1980 <= day.year <= 2100:
                return (day - EPOCH).days * 86400
        except ValueError:
            pass
    err.add(rec.line, '%s: bad date %r (want a real YYYY-MM-DD between 1980 and 2100)' % (field, text))
    return None


def p_flags(err, rec):
    text = rec.flags
    if text == '-':
        return set()
    words = text.split(',')
    allowed = FLAGS[rec.kind]
    ok = True
    for w in words:
        if w not in allowed:
            err.add(rec.line, 'flags: unknown flag %r for %s (allowed: %s)' % (w, rec.kind, ', '.join(allowed)))
            ok = False
    if len(set(words)) != len(words):
        err.add(rec.line, 'flags: %r repeats a flag' % text)
        ok = False
    return set(words) if ok else None


def p_key(err, rec, field):
    text = getattr(rec, field)
    if not KEY_RE.match(text):
        err.add(rec.line, '%s: bad key %r (want 1-32 of [a-z0-9-], not starting with -)' % (field, text))
        return None
    return text


def p_label(err, rec, field):
    text = getattr(rec, field)
    if not LABEL_RE.match(text):
        err.add(rec.line, '%s: bad label %r (want 1-16 of [A-Za-z0-9 +.-])' % (field, text))
        return None
    return text


def p_name(err, rec):
    text = rec.name
    if len(text) > NAME_MAX:
        err.add(rec.line, 'name: longer than %d characters' % NAME_MAX)
        return None
    if any(not ' ' <= ch <= '~' for ch in text):
        err.add(rec.line, 'name: only printable ASCII is allowed')
        return None
    if '  ' in text:
        err.add(rec.line, 'name: %r contains a double space' % text)
        return None
    return text


# ------------------------------------------------------------------------------------------------ reading

def read_records(path, err):
    try:
        with open(path, 'rb') as f:
            raw = f.read(FILE_MAX + 1)
    except OSError as e:
        err.add(0, 'cannot read: %s' % e.strerror)
        return []
    if len(raw) > FILE_MAX:
        err.add(0, 'larger than %d bytes' % FILE_MAX)
        return []
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        err.add(raw[:e.start].count(b'\n') + 1, 'not valid UTF-8')
        return []
    if text and not text.endswith('\n'):
        err.add(text.count('\n') + 1, 'last line has no newline')
    records = []
    counts = dict.fromkeys(LAYOUT, 0)
    for lineno, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        if len(line.encode('utf-8')) > LINE_MAX:
            err.add(lineno, 'line longer than %d bytes' % LINE_MAX)
            continue
        if line == '' or line.startswith('#'):
            continue
        if '\r' in line:
            err.add(lineno, 'carriage return (the file must use LF line ends)')
            continue
        fields = line.split('\t')
        kind = fields[0]
        if kind not in LAYOUT:
            err.add(lineno, 'unknown record type %r (known: %s)' % (kind, ', '.join(LAYOUT)))
            continue
        want = LAYOUT[kind]
        if len(fields) - 1 != len(want):
            err.add(lineno, '%s record has %d fields, want %d: %s' % (kind, len(fields) - 1, len(want),
                                                                      ' '.join(want)))
            continue
        bad = False
        for name, value in zip(want, fields[1:]):
            if value == '':
                err.add(lineno, '%s: empty field (write - for none)' % name)
                bad = True
            elif value != value.strip():
                err.add(lineno, '%s: leading or trailing blanks in %r' % (name, value))
                bad = True
        if bad:
            continue
        counts[kind] += 1
        if kind in RECORDS_MAX and counts[kind] > RECORDS_MAX[kind]:
            if counts[kind] == RECORDS_MAX[kind] + 1:
                err.add(lineno, 'more than %d %s records' % (RECORDS_MAX[kind], kind))
            continue
        records.append(Record(kind, lineno, fields[1:]))
    return records


# ------------------------------------------------------------------------------------------------ validation

def build_model(records, err):
    by_kind = {kind: [r for r in records if r.kind == kind] for kind in LAYOUT}
    ids = {}         # GUID text -> (kind, line): ids are unique across apps, KMS ids and SKUs
    names = {}       # (kind, lower-case name) -> line
    sku_words = {}   # lower-case SKU name or alias -> line: products_find_sku() must be unambiguous

    def claim_id(rec, value):
        if value in ids:
            kind, line = ids[value]
            err.add(rec.line, 'duplicate id %s (already used by the %s on line %d)' % (value, kind, line))
            return False
        ids[value] = (rec.kind, rec.line)
        return True

    def claim_name(rec, value):
        k = (rec.kind, value.lower())
        if k in names:
            err.add(rec.line, 'duplicate %s name %r (line %d)' % (rec.kind, value, names[k]))
            return False
        names[k] = rec.line
        return True

    def claim_sku_word(rec, value, what):
        k = value.lower()
        if k in sku_words:
            err.add(rec.line, 'duplicate SKU %s %r (case-insensitive; line %d)' % (what, value, sku_words[k]))
            return False
        sku_words[k] = rec.line
        return True

    apps, kmss, skus, csvlks, builds = [], [], [], [], []

    for r in by_kind['app']:
        key, gid = p_key(err, r, 'key'), p_guid(err, r, 'id')
        count = p_int(err, r, 'min_active_clients', 1, 65535)
        dflt, name = p_key(err, r, 'default_csvlk'), p_name(err, r)
        group, label = p_int(err, r, 'count_group', 0, 99), p_label(err, r, 'group_label')
        if None in (key, gid, count, dflt, group, label, name):
            continue
        if any(a['key'] == key for a in apps):
            err.add(r.line, 'duplicate app key %r' % key)
            continue
        if any(a['group'] == group for a in apps):
            err.add(r.line, 'count_group %d used twice' % group)
            continue
        if claim_id(r, gid) and claim_name(r, name):
            apps.append(dict(line=r.line, key=key, id=gid, min_active=count, default=dflt, group=group,
                             label=label, name=name))

    app_keys = {a['key']: a for a in apps}
    for r in by_kind['kms']:
        gid, app = p_guid(err, r, 'id'), r.app
        n = p_int(err, r, 'n_policy', 1, 255)
        proto = p_int(err, r, 'protocol', 0, 99)
        flags, name = p_flags(err, r), p_name(err, r)
        if proto is not None and proto not in PROTOCOLS:
            err.add(r.line, 'protocol: %d is not one of %s' % (proto, ', '.join(map(str, PROTOCOLS))))
            proto = None
        if app not in app_keys:
            err.add(r.line, 'app: unknown application key %r' % app)
            app = None
        if None in (gid, app, n, proto, flags, name):
            continue
        folders = sorted(flags.intersection(OFFICE_FOLDERS))
        if len(folders) > 1:
            err.add(r.line, 'flags: more than one Office folder (%s)' % ', '.join(folders))
            continue
        if claim_id(r, gid) and claim_name(r, name):
            kmss.append(dict(line=r.line, id=gid, app=app, n=n, proto=proto, retail='retail' in flags,
                             preview='preview' in flags, name=name, csvlks=[],
                             office=('Office' + folders[0][6:]) if folders else None))

    kms_ids = {k['id']: k for k in kmss}
    gvlks = {}
    for r in by_kind['sku']:
        gid, kid = p_guid(err, r, 'id'), p_guid(err, r, 'kms_id')
        flags, name = p_flags(err, r), p_name(err, r)
        if kid is not None and kid not in kms_ids:
            err.add(r.line, 'kms_id: %s is not a KMS counted id of this table' % kid)
            kid = None
        aliases = r.aliases.split(',')
        ok = True
        for a in aliases:
            if not KEY_RE.match(a):
                err.add(r.line, 'aliases: bad alias %r (want 1-32 of [a-z0-9-], not starting with -)' % a)
                ok = False
        gvlk = r.gvlk
        if gvlk == '-':
            gvlk = None
        elif not GVLK_RE.match(gvlk):
            err.add(r.line, 'gvlk: malformed key %r (want five groups of five [A-Z0-9] joined by -)' % gvlk)
            ok = False
        elif gvlk in gvlks:
            err.add(r.line, 'gvlk: %s is already the key of the SKU on line %d' % (gvlk, gvlks[gvlk]))
            ok = False
        else:
            gvlks[gvlk] = r.line
        if flags is not None and 'gengvlk' in flags and gvlk is None:
            err.add(r.line, 'flags: gengvlk given but the SKU has no GVLK')
            ok = False
        if not ok or None in (gid, kid, flags, name):
            continue
        if not claim_id(r, gid) or not claim_name(r, name) or not claim_sku_word(r, name, 'name'):
            continue
        if not all([claim_sku_word(r, a, 'alias') for a in aliases]):
            continue
        skus.append(dict(line=r.line, id=gid, kms=kid, aliases=aliases, gvlk=gvlk,
                         generated='gengvlk' in flags, name=name))

    for r in by_kind['csvlk']:
        key, released = p_key(err, r, 'key'), p_date(err, r, 'released')
        flags, name = p_flags(err, r), p_name(err, r)
        epid = (r.group, r.key_min, r.key_max)
        ok = True
        if epid == ('-', '-', '-'):
            group = kmin = kmax = 0
            has_epid = False
        elif '-' in epid:
            err.add(r.line, 'group, key_min and key_max must be given together or all be -')
            ok = False
        else:
            has_epid = True
            group = p_int(err, r, 'group', 0, 99999)
            kmin = p_int(err, r, 'key_min', 0, 999999999)
            kmax = p_int(err, r, 'key_max', 0, 999999999)
            if None in (group, kmin, kmax):
                ok = False
            elif kmin > kmax:
                err.add(r.line, 'key_min %d is above key_max %d' % (kmin, kmax))
                ok = False
        if not ok or None in (key, released, flags, name):
            continue
        if any(c['key'] == key for c in csvlks):
            err.add(r.line, 'duplicate CSVLK key %r' % key)
            continue
        if claim_name(r, name):
            csvlks.append(dict(line=r.line, key=key, has_epid=has_epid, group=group, kmin=kmin, kmax=kmax,
                               released=released, lab='lab' in flags, preview='preview' in flags, name=name,
                               activates=[]))

    csvlk_keys = {c['key']: c for c in csvlks}
    for r in by_kind['activates']:
        c, kid = csvlk_keys.get(r.csvlk_key), p_guid(err, r, 'kms_id')
        if c is None:
            err.add(r.line, 'csvlk_key: unknown CSVLK %r' % r.csvlk_key)
        if kid is not None and kid not in kms_ids:
            err.add(r.line, 'kms_id: %s is not a KMS counted id of this table' % kid)
            kid = None
        if c is None or kid is None:
            continue
        if kid in c['activates']:
            err.add(r.line, 'CSVLK %r already activates %s' % (c['key'], kid))
            continue
        c['activates'].append(kid)
        kms_ids[kid]['csvlks'].append(c['key'])

    for r in by_kind['build']:
        number = p_int(err, r, 'number', 1, 99999)
        platform = p_int(err, r, 'platform', 0, 99999)
        released, flags, name = p_date(err, r, 'released'), p_flags(err, r), p_name(err, r)
        if None in (number, platform, released, flags, name):
            continue
        if 'epid' in flags and ('server' not in flags or number < 1000):
            err.add(r.line, 'flags: an epid build must be a server build numbered 1000 or more')
            continue
        if any(b['number'] == number for b in builds):
            err.add(r.line, 'duplicate build number %d' % number)
            continue
        if claim_name(r, name):
            builds.append(dict(line=r.line, number=number, platform=platform, released=released,
                               ndr64='ndr64' in flags, server='server' in flags, epid='epid' in flags, name=name))

    # kms->csvlks follows table order, whatever order the activates records came in.
    csvlk_order = {c['key']: i for i, c in enumerate(csvlks)}
    for k in kmss:
        k['csvlks'].sort(key=csvlk_order.get)

    # Whole-table rules.
    for c in csvlks:
        if not c['activates']:
            err.add(c['line'], 'CSVLK %r activates nothing (add activates records)' % c['key'])
    for a in apps:
        c = csvlk_keys.get(a['default'])
        if c is None:
            err.add(a['line'], 'default_csvlk: unknown CSVLK %r' % a['default'])
        elif not c['has_epid']:
            err.add(a['line'], 'default_csvlk: CSVLK %r has no ePID data' % a['default'])
        if not any(k['app'] == a['key'] for k in kmss):
            err.add(a['line'], 'application %r has no KMS counted id' % a['key'])
        if len({k['office'] is None for k in kmss if k['app'] == a['key']}) > 1:
            err.add(a['line'], 'application %r: either all its KMS ids name an Office folder or none' % a['key'])
    if sorted(a['group'] for a in apps) != list(range(len(apps))):
        err.add(apps[-1]['line'] if apps else 0, 'count_group: the applications must number 0 .. %d' % (len(apps) - 1))
    for kind in ('app', 'kms', 'sku', 'csvlk', 'build'):
        if not by_kind[kind]:
            err.add(0, 'no %s records' % kind)
    if by_kind['build'] and not any(b['epid'] for b in builds):
        err.add(0, 'no build has the epid flag')

    # The ePID CSVLK suggested for each KMS id: the newest CSVLK with ePID data that activates it, preferring
    # released (non-lab, non-preview) ones; failing that the application's default. Ties keep file order.
    for k in kmss:
        mine = [csvlk_keys[key] for key in k['csvlks'] if csvlk_keys[key]['has_epid']]
        best = None
        for c in mine:
            rank = (not (c['lab'] or c['preview']), c['released'])
            if best is None or rank > best[0]:
                best = (rank, c)
        app = app_keys[k['app']]
        k['epid_csvlk'] = best[1]['key'] if best else app['default']

    return dict(apps=apps, kms=kmss, skus=skus, csvlks=csvlks, builds=builds)


# ------------------------------------------------------------------------------------------------ output

def c_string(text):
    out = ['"']
    for ch in text:
        if ch in '"\\?':  # '?' too, so that no trigraph can form under -std=c11
            out.append('\\' + ch)
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def wire(guid_text):
    return uuid.UUID(guid_text).bytes_le


def c_guid(guid_text):
    return '{.b = {%s}}' % ', '.join('0x%02x' % b for b in wire(guid_text))


def c_bool(value):
    return 'true' if value else 'false'


def sorted_index(items):
    return sorted(range(len(items)), key=lambda i: wire(items[i]['id']))


def c_array(decl, items):
    """Lines of `decl = {items};`, wrapped to stay within 120 columns."""
    one = '%s = {%s};' % (decl, ', '.join(items))
    if len(one) <= 120:
        return [one]
    lines, cur = [decl + ' = {'], '   '
    for item in items:
        if len(cur) + 1 + len(item) + 1 > 120:
            lines.append(cur)
            cur = '   '
        cur += ' ' + item + ','
    lines.append(cur)
    lines.append('};')
    return lines


def c_index(name, items):
    return c_array('static const uint16_t %s[%d]' % (name, len(items)), [str(i) for i in sorted_index(items)])


def emit(model, source_name, digest):
    apps, kmss, skus, csvlks, builds = (model[k] for k in ('apps', 'kms', 'skus', 'csvlks', 'builds'))
    app_pos = {a['key']: i for i, a in enumerate(apps)}
    kms_pos = {k['id']: i for i, k in enumerate(kmss)}
    csvlk_pos = {c['key']: i for i, c in enumerate(csvlks)}
    o = []
    w = o.append
    w('/* Generated by scripts/gen_products.py from %s. Do not edit: change the TSV instead. */' % source_name)
    w('#include "products.h"')
    w('')
    w('#include <stdbool.h>')
    w('#include <stddef.h>')
    w('#include <stdint.h>')
    w('')
    w('/* Tentative definitions, so that the tables can point at each other. */')
    w('static const struct products_app apps[%d];' % len(apps))
    w('static const struct products_kms kms[%d];' % len(kmss))
    w('static const struct products_csvlk csvlks[%d];' % len(csvlks))
    w('')
    for i, k in enumerate(kmss):
        if k['csvlks']:
            o.extend(c_array('static const struct products_csvlk *const kms_csvlks_%d[]' % i,
                             ['&csvlks[%d]' % csvlk_pos[key] for key in k['csvlks']]))
    w('')
    for i, c in enumerate(csvlks):
        o.extend(c_array('static const struct products_kms *const csvlk_activates_%d[]' % i,
                         ['&kms[%d]' % kms_pos[kid] for kid in c['activates']]))
    w('')
    for i, s in enumerate(skus):
        o.extend(c_array('static const char *const sku_aliases_%d[]' % i, [c_string(a) for a in s['aliases']]))
    w('')

    w('static const struct products_app apps[%d] = {' % len(apps))
    for a in apps:
        w('    /* %s */' % a['id'])
        w('    {.id = %s,' % c_guid(a['id']))
        w('     .key = %s, .name = %s,' % (c_string(a['key']), c_string(a['name'])))
        w('     .min_active_clients = %d, .default_csvlk = &csvlks[%d],' % (a['min_active'],
                                                                           csvlk_pos[a['default']]))
        w('     .count_group = %d, .group_label = %s},' % (a['group'], c_string(a['label'])))
    w('};')
    w('')
    w('static const struct products_kms kms[%d] = {' % len(kmss))
    for i, k in enumerate(kmss):
        w('    /* %s */' % k['id'])
        w('    {.id = %s,' % c_guid(k['id']))
        w('     .name = %s, .app = &apps[%d],' % (c_string(k['name']), app_pos[k['app']]))
        w('     .n_policy = %d, .protocol = %d, .retail = %s, .preview = %s,' % (
            k['n'], k['proto'], c_bool(k['retail']), c_bool(k['preview'])))
        w('     .office_folder = %s,' % (c_string(k['office']) if k['office'] else 'NULL'))
        if k['csvlks']:
            w('     .csvlks = kms_csvlks_%d, .csvlk_count = %d, .epid_csvlk = &csvlks[%d]},' % (
                i, len(k['csvlks']), csvlk_pos[k['epid_csvlk']]))
        else:
            w('     .csvlks = NULL, .csvlk_count = 0, .epid_csvlk = &csvlks[%d]},' % csvlk_pos[k['epid_csvlk']])
    w('};')
    w('')
    w('static const struct products_sku skus[%d] = {' % len(skus))
    for i, s in enumerate(skus):
        w('    /* %s */' % s['id'])
        w('    {.id = %s,' % c_guid(s['id']))
        w('     .name = %s, .alias = %s,' % (c_string(s['name']), c_string(s['aliases'][0])))
        w('     .aliases = sku_aliases_%d, .alias_count = %d,' % (i, len(s['aliases'])))
        gvlk = c_string(s['gvlk']) if s['gvlk'] else 'NULL'
        w('     .gvlk = %s, .gvlk_generated = %s, .kms = &kms[%d]},' % (gvlk, c_bool(s['generated']),
                                                                        kms_pos[s['kms']]))
    w('};')
    w('')
    w('static const struct products_csvlk csvlks[%d] = {' % len(csvlks))
    for i, c in enumerate(csvlks):
        w('    {.key = %s, .name = %s,' % (c_string(c['key']), c_string(c['name'])))
        w('     .has_epid = %s, .group = %d, .key_min = %d, .key_max = %d,' % (
            c_bool(c['has_epid']), c['group'], c['kmin'], c['kmax']))
        w('     .released = INT64_C(%d), .lab = %s, .preview = %s,' % (c['released'], c_bool(c['lab']),
                                                                       c_bool(c['preview'])))
        w('     .activates = csvlk_activates_%d, .activate_count = %d},' % (i, len(c['activates'])))
    w('};')
    w('')
    w('static const struct products_build builds[%d] = {' % len(builds))
    for b in builds:
        w('    {.build = %d, .platform = %d, .name = %s,' % (b['number'], b['platform'], c_string(b['name'])))
        w('     .released = INT64_C(%d), .ndr64 = %s, .server = %s, .epid = %s},' % (
            b['released'], c_bool(b['ndr64']), c_bool(b['server']), c_bool(b['epid'])))
    w('};')
    w('')
    w('/* Indexes sorted by the GUIDs\' wire-order bytes (memcmp order), for binary search. */')
    o.extend(c_index('app_by_id', apps))
    o.extend(c_index('kms_by_id', kmss))
    o.extend(c_index('sku_by_id', skus))
    w('')
    w('const struct products_tables products_tables = {')
    w('    .apps = apps, .app_count = %d,' % len(apps))
    w('    .kms = kms, .kms_count = %d,' % len(kmss))
    w('    .skus = skus, .sku_count = %d,' % len(skus))
    w('    .csvlks = csvlks, .csvlk_count = %d,' % len(csvlks))
    w('    .builds = builds, .build_count = %d,' % len(builds))
    w('    .app_by_id = app_by_id, .kms_by_id = kms_by_id, .sku_by_id = sku_by_id,')
    w('    .source = PRODUCTS_SOURCE_BUILTIN,')
    w('    /* SHA-256 of %s */' % source_name)
    w('    .sha256 = {')
    for half in (digest[:16], digest[16:]):
        w('        %s,' % ', '.join('0x%02x' % b for b in half))
    w('    },')
    w('};')
    return '\n'.join(o) + '\n'


def main(argv):
    if len(argv) != 3:
        print('usage: gen_products.py INPUT OUTPUT', file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    err = Errors(src)
    records = read_records(src, err)
    model = build_model(records, err) if not err.items else None
    if err.items:
        err.report()
        print('%s: %d error(s); %s not written' % (src, len(err.items), dst), file=sys.stderr)
        return 1
    with open(src, 'rb') as f:
        digest = hashlib.sha256(f.read()).digest()
    text = emit(model, os.path.basename(src), digest)
    tmp = dst + '.tmp'
    with open(tmp, 'w', encoding='ascii', newline='\n') as f:
        f.write(text)
    os.replace(tmp, dst)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
