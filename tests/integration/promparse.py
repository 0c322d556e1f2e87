#!/usr/bin/env python3
"""A strict checker of the Prometheus text exposition format (version 0.0.4), for kmsd's /metrics.

Usage: promparse.py FILE          check FILE ("-": standard input); print the samples as JSON on success
       promparse.py --self-test   check that known-bad inputs are refused and a good one is accepted

Stricter than Prometheus itself where kmsd can be: every family has exactly one HELP and one TYPE, both
before its samples; a family's samples are contiguous; no blank lines; no duplicate series; counters are
named *_total and never negative; histograms have le buckets in increasing order with cumulative counts,
a +Inf bucket equal to _count, and a _sum; the text ends with a newline. Exit 0 when valid, 1 otherwise.
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise Bad("%s: bad value %r" % (where, text))
    return float(text)


def parse_labels(s, i, where):
    """s[i] is just after '{'. Returns (labels dict, index after '}')."""
    labels = {}
    while True:
        if s.startswith("}", i):
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad("%s: bad label name at column %d" % (where, i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise Bad("%s: reserved label name %s" % (where, name))
        if name in labels:
            raise Bad("%s: label %s repeated" % (where, name))
        i = m.end()
        if not s.startswith('="', i):
            raise Bad("%s: expected =\" after label %s" % (where, name))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise Bad("%s: bad escape in label value" % where)
                val.append("\n" if s[i + 1] == "n" else s[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad("%s: newline in label value" % where)
            else:
                val.append(c)
                i += 1
        labels[name] = "".join(val)
        if s.startswith(",", i):
            i += 1
            if s.startswith("}", i):  # a trailing comma is allowed by the format
                return labels, i + 1
        elif not s.startswith("}", i):
            raise Bad("%s: expected , or } after a label value" % where)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


def check(text):
    if not text.endswith("\n"):
        raise Bad("the text does not end with a newline")
    helps, types, seen_series, samples = {}, {}, set(), []
    done_families, current = set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d" % n
        if line == "":
            raise Bad("%s: blank line" % where)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise Bad("%s: bad metric name %r" % (where, name))
                if name in done_families:
                    raise Bad("%s: %s after the samples of %s" % (where, parts[1], name))
                table = helps if parts[1] == "HELP" else types
                if name in table:
                    raise Bad("%s: second %s for %s" % (where, parts[1], name))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad("%s: bad TYPE line" % where)
                    if name in {s[0] for s in samples}:
                        raise Bad("%s: TYPE after samples of %s" % (where, name))
                    types[name] = parts[3]
                else:
                    helps[name] = parts[3] if len(parts) == 4 else ""
            continue
        m = NAME.match(line)
        if not m:
            raise Bad("%s: a sample must start with a metric name" % where)
        name, i = m.group(0), m.end()
        labels = {}
        if line.startswith("{", i):
            labels, i = parse_labels(line, i + 1, where)
        if not line.startswith(" ", i):
            raise Bad("%s: expected a space before the value" % where)
        rest = line[i + 1:].split(" ")
        if len(rest) not in (1, 2) or rest[0] == "":
            raise Bad("%s: expected VALUE [TIMESTAMP]" % where)
        value = parse_value(rest[0], where)
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise Bad("%s: bad timestamp" % where)
        fam = family_of(name, types)
        if fam not in types or fam not in helps:
            raise Bad("%s: %s has no TYPE and HELP before its samples" % (where, fam))
        if fam != current:
            if fam in done_families:
                raise Bad("%s: samples of %s are not contiguous" % (where, fam))
            if current is not None:
                done_families.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise Bad("%s: duplicate series %s%s" % (where, name, labels))
        seen_series.add(key)
        kind = types[fam]
        if kind == "counter":
            if not name.endswith("_total"):
                raise Bad("%s: counter %s is not named *_total" % (where, name))
            if not value >= 0:
                raise Bad("%s: counter %s is negative or NaN" % (where, name))
        if kind == "histogram":
            if name == fam:
                raise Bad("%s: histogram sample without _bucket/_sum/_count" % where)
            if name.endswith("_bucket") and "le" not in labels:
                raise Bad("%s: bucket without le" % where)
        samples.append((name, labels, value))
    check_histograms(samples, types)
    return samples


def check_histograms(samples, types):
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        groups = {}
        for name, labels, value in samples:
            if name in (fam + "_bucket", fam + "_sum", fam + "_count"):
                rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                groups.setdefault(rest, []).append((name, labels, value))
        if not groups:
            raise Bad("histogram %s has no samples" % fam)
        for rest, rows in groups.items():
            buckets = [(parse_value(lb["le"], fam), v) for n, lb, v in rows if n == fam + "_bucket"]
            count = [v for n, lb, v in rows if n == fam + "_count"]
            total = [v for n, lb, v in rows if n == fam + "_sum"]
            if len(count) != 1 or len(total) != 1:
                raise Bad("histogram %s%s needs one _sum and one _count" % (fam, dict(rest)))
            if not buckets or buckets[-1][0] != math.inf:
                raise Bad("histogram %s: the last bucket must be le=\"+Inf\"" % fam)
            for (b1, c1), (b2, c2) in zip(buckets, buckets[1:]):
                if not b2 > b1:
                    raise Bad("histogram %s: bucket bounds not increasing" % fam)
                if c2 < c1:
                    raise Bad("histogram %s: bucket counts not cumulative" % fam)
            if buckets[-1][1] != count[0]:
                raise Bad("histogram %s: +Inf bucket %g != _count %g" % (fam, buckets[-1][1], count[0]))


GOOD = """# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1"} 3
a_total{x="q\\"uote\\\\ \\n"} 0
# HELP g A gauge.
# TYPE g gauge
g -1.5e3
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1"} 2
h_bucket{le="+Inf"} 2
h_sum 0.6
h_count 2
"""

BAD = {
    "no final newline": "# HELP g x\n# TYPE g gauge\ng 1",
    "blank line": "# HELP g x\n# TYPE g gauge\n\ng 1\n",
    "no TYPE": "# HELP g x\ng 1\n",
    "no HELP": "# TYPE g gauge\ng 1\n",
    "TYPE after sample": "# HELP g x\ng 1\n# TYPE g gauge\n",
    "bad type": "# HELP g x\n# TYPE g meter\ng 1\n",
    "two TYPEs": "# HELP g x\n# TYPE g gauge\n# TYPE g gauge\ng 1\n",
    "bad name": "# HELP 1g x\n# TYPE 1g gauge\n1g 1\n",
    "bad value": "# HELP g x\n# TYPE g gauge\ng one\n",
    "missing value": "# HELP g x\n# TYPE g gauge\ng\n",
    "unquoted label": "# HELP g x\n# TYPE g gauge\ng{a=b} 1\n",
    "bad escape": "# HELP g x\n# TYPE g gauge\ng{a=\"\\t\"} 1\n",
    "unterminated label": "# HELP g x\n# TYPE g gauge\ng{a=\"b} 1\n",
    "duplicate series": "# HELP g x\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"1\"} 2\n",
    "repeated label": "# HELP g x\n# TYPE g gauge\ng{a=\"1\",a=\"2\"} 1\n",
    "not contiguous": "# HELP g x\n# TYPE g gauge\n# HELP k x\n# TYPE k gauge\ng{a=\"1\"} 1\nk 1\ng{a=\"2\"} 1\n",
    "counter name": "# HELP c x\n# TYPE c counter\nc 1\n",
    "negative counter": "# HELP c_total x\n# TYPE c_total counter\nc_total -1\n",
    "no +Inf bucket": "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
    "not cumulative": "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                      "h_sum 1\nh_count 1\n",
    "count mismatch": "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    "no sum": "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
    "reserved label": "# HELP g x\n# TYPE g gauge\ng{__x=\"1\"} 1\n",
}


def self_test():
    check(GOOD)
    failures = 0
    for what, text in BAD.items():
        try:
            check(text)
        except Bad:
            continue
        print("self-test: accepted bad input: %s" % what, file=sys.stderr)
        failures += 1
    if failures:
        return 1
    print("self-test: good input accepted, %d bad inputs refused" % len(BAD))
    return 0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--self-test":
        return self_test()
    text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8").read()
    try:
        samples = check(text)
    except Bad as e:
        print("promparse: %s" % e, file=sys.stderr)
        return 1
    json.dump([{"name": n, "labels": lb, "value": v} for n, lb, v in samples], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
