#!/usr/bin/env bash
# `npm test`'s first step: build dist/ and type-check the tests side by side. Each is one
# single-threaded tsc run, so on two cores both take the time of one (~10 s instead of ~15 s).
# Fails when either fails; both report their errors.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run --silent typecheck &
typecheck=$!
npm run --silent build
built=$?
wait "$typecheck"
checked=$?
exit $((built || checked))
