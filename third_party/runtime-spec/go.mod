// pcr: upstream runtime-spec v1.3.0 ships no go.mod; the go command
// synthesizes one with only this module line (no go directive, which means
// go 1.16 language semantics). A directory replace needs a real go.mod, so
// this file spells that out. See PCR-PATCH.md.
module github.com/opencontainers/runtime-spec

go 1.16
