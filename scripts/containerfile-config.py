#!/usr/bin/env python3
"""The runtime settings of an image: from the final stage of a Containerfile, or from a built image archive.

packaging/Containerfile is the one place the image's runtime settings are written (USER, ENV, EXPOSE, VOLUME,
WORKDIR, ENTRYPOINT, CMD, STOPSIGNAL, HEALTHCHECK, LABEL). `make image` cannot run that file (no base image
can be pulled, no RUN step run), so scripts/build-image.sh makes the root filesystem another way and applies
these settings with `buildah config`, read from the file by this script; tests/package/image-check.sh reads the
built archive's configuration with it and compares the two.

  containerfile-config.py json FILE        the final stage's settings as JSON (Docker image config names)
  containerfile-config.py buildah FILE     the same as `buildah config` arguments, one per line
  containerfile-config.py archive TAR      the settings of the image in a docker-archive (docker save) as JSON

Only what the final stage needs is understood: comments, line continuations, the exec (JSON) and shell forms,
ENV KEY=VALUE (quoted values too), HEALTHCHECK options. Variable substitution (`$NAME`), SHELL and ONBUILD are
refused rather than guessed at. Instructions that build the file system (RUN, COPY, ADD, ARG) are skipped.
"""
import json
import re
import shlex
import sys
import tarfile

SETTINGS = ("User", "Env", "ExposedPorts", "Volumes", "WorkingDir", "Entrypoint", "Cmd", "StopSignal",
            "Healthcheck", "Labels")


def die(msg):
    sys.exit(f"containerfile-config: {msg}")


def logical_lines(text):
    """(line number, instruction line) with comments dropped and backslash continuations joined."""
    out, buf, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):  # a comment inside a continued instruction
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        out.append((start, buf + s))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def exec_or_shell(arg, where):
    """An ENTRYPOINT/CMD/HEALTHCHECK CMD argument: a JSON array (exec form) or a shell command."""
    if arg.startswith("["):
        try:
            v = json.loads(arg)
        except ValueError as e:
            die(f"{where}: not a JSON array: {e}")
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            die(f"{where}: the exec form must be an array of strings")
        return v
    return ["/bin/sh", "-c", arg]


DURATION = re.compile(r"(\d+)(ns|us|ms|s|m|h)")
UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(s, where):
    if not s or DURATION.sub("", s):
        die(f"{where}: {s!r} is not a duration (e.g. 30s, 1m30s)")
    return sum(int(n) * UNIT_NS[u] for n, u in DURATION.findall(s))


def parse(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        die(str(e))
    lines = logical_lines(text)
    froms = [i for i, (_, l) in enumerate(lines) if l.split(None, 1)[0].upper() == "FROM"]
    if not froms:
        die(f"{path}: no FROM")
    cfg = {"User": "", "Env": [], "ExposedPorts": {}, "Volumes": {}, "WorkingDir": "", "Entrypoint": None,
           "Cmd": None, "StopSignal": "", "Healthcheck": None, "Labels": {}}
    env = {}
    for n, line in lines[froms[-1] + 1:]:
        word, _, arg = line.partition(" ")
        ins, arg = word.upper(), arg.strip()
        where = f"{path}:{n}: {ins}"
        if ins in ("RUN", "COPY", "ADD", "ARG"):
            continue
        if ins in ("SHELL", "ONBUILD", "FROM"):
            die(f"{where}: not supported in the final stage by this parser")
        if "$" in arg and ins not in ("HEALTHCHECK", "ENTRYPOINT", "CMD"):
            die(f"{where}: variable substitution is not supported by this parser")
        if ins == "USER":
            cfg["User"] = arg
        elif ins == "WORKDIR":
            cfg["WorkingDir"] = arg
        elif ins == "STOPSIGNAL":
            cfg["StopSignal"] = arg
        elif ins in ("ENV", "LABEL"):
            words = shlex.split(arg)
            if ins == "ENV" and words and "=" not in words[0]:  # the old form: ENV KEY VALUE
                pairs = [(words[0], arg.split(None, 1)[1] if len(words) > 1 else "")]
            else:
                pairs = []
                for w in words:
                    if "=" not in w:
                        die(f"{where}: {w!r} is not KEY=VALUE")
                    pairs.append(tuple(w.split("=", 1)))
            for k, v in pairs:
                (env if ins == "ENV" else cfg["Labels"])[k] = v
        elif ins == "EXPOSE":
            for p in arg.split():
                cfg["ExposedPorts"][p if "/" in p else p + "/tcp"] = {}
        elif ins == "VOLUME":
            vols = json.loads(arg) if arg.startswith("[") else arg.split()
            for v in vols:
                cfg["Volumes"][v] = {}
        elif ins == "ENTRYPOINT":
            cfg["Entrypoint"] = exec_or_shell(arg, where)
            cfg["Cmd"] = None  # as Docker does: ENTRYPOINT resets an inherited CMD
        elif ins == "CMD":
            cfg["Cmd"] = exec_or_shell(arg, where)
        elif ins == "HEALTHCHECK":
            hc = {}
            words = arg.split()
            while words and words[0].startswith("--"):
                opt, _, val = words.pop(0)[2:].partition("=")
                key = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                       "retries": "Retries"}.get(opt)
                if key is None:
                    die(f"{where}: unknown option --{opt}")
                hc[key] = int(val) if key == "Retries" else duration_ns(val, where)
            rest = arg[arg.find(words[0]):] if words else ""
            kind, _, cmd = rest.partition(" ")
            if kind.upper() == "NONE":
                hc = {"Test": ["NONE"]}
            elif kind.upper() == "CMD":
                c = exec_or_shell(cmd.strip(), where)
                hc["Test"] = ["CMD-SHELL", c[2]] if c[:2] == ["/bin/sh", "-c"] else ["CMD"] + c
            else:
                die(f"{where}: expected CMD or NONE")
            cfg["Healthcheck"] = {k: hc[k] for k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
                                  if k in hc}
        else:
            die(f"{where}: unknown instruction")
    cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
    return cfg


def go_duration(ns):
    for unit in ("h", "m", "s", "ms", "us"):
        if ns % UNIT_NS[unit] == 0:
            return f"{ns // UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def buildah_args(cfg):
    """`buildah config` arguments for cfg (the image starts from scratch, so nothing has to be cleared)."""
    a = []
    if cfg["User"]:
        a += ["--user", cfg["User"]]
    for e in cfg["Env"]:
        a += ["--env", e]
    for p in cfg["ExposedPorts"]:
        a += ["--port", p]
    for v in cfg["Volumes"]:
        a += ["--volume", v]
    if cfg["WorkingDir"]:
        a += ["--workingdir", cfg["WorkingDir"]]
    if cfg["Entrypoint"] is not None:
        a += ["--entrypoint", json.dumps(cfg["Entrypoint"])]
    if cfg["Cmd"] is not None:
        a += ["--cmd", json.dumps(cfg["Cmd"])]
    if cfg["StopSignal"]:
        a += ["--stop-signal", cfg["StopSignal"]]
    hc = cfg["Healthcheck"]
    if hc:
        # buildah 1.28 takes the test as one string, "CMD word..." split at blanks, or "CMD-SHELL command"
        if hc["Test"][0] == "CMD" and any(re.search(r"\s", w) or not w for w in hc["Test"][1:]):
            die("HEALTHCHECK CMD: an argument with a blank cannot be passed to buildah config; use the shell form")
        a += ["--healthcheck", " ".join(hc["Test"])]
        for k, opt in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start-period")):
            if k in hc:
                a += [f"--healthcheck-{opt}", go_duration(hc[k])]
        if "Retries" in hc:
            a += ["--healthcheck-retries", str(hc["Retries"])]
    for k, v in cfg["Labels"].items():
        a += ["--label", f"{k}={v}"]
    return a


def from_archive(path):
    """The settings of the (single) image in a docker-archive, in parse()'s shape."""
    with tarfile.open(path) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        if len(manifest) != 1:
            die(f"{path}: {len(manifest)} images, expected 1")
        c = json.load(t.extractfile(manifest[0]["Config"])).get("config") or {}
    cfg = {k: c.get(k) for k in SETTINGS}
    for k, empty in (("User", ""), ("Env", []), ("ExposedPorts", {}), ("Volumes", {}), ("WorkingDir", ""),
                     ("StopSignal", ""), ("Labels", {})):
        if cfg[k] is None:
            cfg[k] = empty
    # buildah adds its own version label; it is not one of the Containerfile's
    cfg["Labels"] = {k: v for k, v in cfg["Labels"].items() if k != "io.buildah.version"}
    return cfg


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("json", "buildah", "archive"):
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        sys.exit(2)
    mode, path = sys.argv[1:]
    if mode == "archive":
        print(json.dumps(from_archive(path), indent=1, sort_keys=True))
    elif mode == "json":
        print(json.dumps(parse(path), indent=1, sort_keys=True))
    else:
        print("\n".join(buildah_args(parse(path))))


if __name__ == "__main__":
    main()
