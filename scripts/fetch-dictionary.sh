#!/usr/bin/env bash
# The German-English dictionary for English short answers (rag/glossary.py): Ding, from Debian's
# package trans-de-en (GPL-2+), unpacked into the project's git-ignored .cache/dictionary with its
# copyright file. No root needed (apt-get download + dpkg-deb). Without it the app still runs:
# English short answers then keep the article's German words and English questions are read
# less well, and this script says so.
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=.cache/dictionary
[ -s "$DEST/de-en" ] && exit 0
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "No apt-get here: English short answers will keep the article's German words and English questions are read less well (README: RAG_DICTIONARY)." >&2
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download -q trans-de-en >/dev/null 2>&1) \
        && ! (apt-get update -qq >/dev/null 2>&1 && cd "$tmp" && apt-get download -q trans-de-en >/dev/null 2>&1); then
    echo "Could not fetch the dictionary package trans-de-en: English short answers will keep the article's German words and English questions are read less well." >&2
    exit 0
fi
dpkg-deb -x "$tmp"/trans-de-en_*.deb "$tmp/x"
mkdir -p "$DEST"
cp "$tmp/x/usr/share/doc/trans-de-en/copyright" "$DEST/COPYRIGHT"
cp "$tmp/x/usr/share/trans/de-en" "$DEST/de-en.tmp" && mv "$DEST/de-en.tmp" "$DEST/de-en"
echo "Dictionary for English short answers: $DEST/de-en (Ding, GPL-2+; $DEST/COPYRIGHT)." >&2
