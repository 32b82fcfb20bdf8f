"""Pass/fail tallies for the scripted tests' Python parts: check() counts
and reports each failure on stderr; finish() prints the totals and exits
non-zero when anything failed."""
import sys

_ok = _bad = 0


def check(cond, what):
    global _ok, _bad
    if cond:
        _ok += 1
    else:
        _bad += 1
        print("FAILED:", what, file=sys.stderr)


def finish(name):
    print(f"{name}: {_ok} passed, {_bad} failed")
    sys.exit(1 if _bad else 0)
