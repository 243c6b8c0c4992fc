#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs n2g-kb with its test and ray extras, the
# Graphviz binary and Chromium + chromedriver (for the site's browser test) when it can
# (root + apt), then runs pytest against a real Neo4j 5.26
# that the tests start themselves (assembled from Maven Central; needs Java 17 + Maven).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test,ray]'
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq graphviz >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }) \
    || echo "note: could not install graphviz; rendering tests will be skipped"
fi
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }) \
    || echo "note: could not install chromium; the site's browser test will be skipped"
fi
exec python3 -m pytest "$@"
