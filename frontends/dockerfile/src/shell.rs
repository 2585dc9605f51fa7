//! Shell-word expansion as BuildKit's `shell.Lex` does it (`$v`, `${v:-w}`, `${v#p}`, quotes,
//! escapes), used for every Dockerfile word that is expanded at build-plan time.
