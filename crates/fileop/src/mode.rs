//! `--chmod`: octal bits or a symbolic mode, applied to every copied file and directory.
//!
//! Why a parser of our own: BuildKit evaluates the mode string with BSD `setmode(3)` semantics
//! (the `dchapes/mode` port) and a umask of 0, so `+x` means `a+x`, `X` adds execute only to
//! directories and to files that already had an execute bit, `s`/`t` are set-id and sticky,
//! and `g=u` copies bits between classes. An octal mode replaces all permission and special
//! bits. Symlinks are never chmod-ed (the caller skips them).

use crate::error::{Error, Result};

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;
/// set-id bits + rwx for all (BSD `STANDARD_BITS`); `=` without a who clears these.
const STANDARD: u32 = 0o6777;
/// With a umask of 0 nothing is masked.
const MASK: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModeSpec {
    Octal(u32),
    Symbolic(Vec<Cmd>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    Set(u32),
    Clear(u32),
    /// Add these execute bits if the file is a directory or already executable by someone.
    CondExec(u32),
    /// Copy the bits of class `from` (shift 6/3/0) to the classes in `to` (u, g, o flags).
    Copy {
        from: u32,
        to: [bool; 3],
        bits: u32,
        set: bool,
        clear: bool,
    },
}

impl ModeSpec {
    pub(crate) fn parse(s: &str) -> Result<ModeSpec> {
        let bad = || Error::InvalidMode {
            mode: s.to_string(),
        };
        if s.is_empty() {
            return Err(bad());
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            let v = u32::from_str_radix(s, 8).map_err(|_| bad())?;
            if v & !(STANDARD | S_ISVTX) != 0 {
                return Err(bad());
            }
            return Ok(ModeSpec::Octal(v));
        }
        parse_symbolic(s).map(ModeSpec::Symbolic).ok_or_else(bad)
    }

    /// The permission and special bits (`& 0o7777`) for a file whose current mode is `mode`.
    pub(crate) fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let cmds = match self {
            ModeSpec::Octal(v) => return *v,
            ModeSpec::Symbolic(cmds) => cmds,
        };
        let old = mode & 0o7777;
        let mut new = old;
        for cmd in cmds {
            match *cmd {
                Cmd::Set(b) => new |= b,
                Cmd::Clear(b) => new &= !b,
                Cmd::CondExec(b) => {
                    if is_dir || old & 0o111 != 0 {
                        new |= b;
                    }
                }
                Cmd::Copy {
                    from,
                    to,
                    bits,
                    set,
                    clear,
                } => {
                    let value = (new >> from) & 0o7;
                    for (shift, on) in [6u32, 3, 0].into_iter().zip(to) {
                        if !on {
                            continue;
                        }
                        if clear {
                            let clr = if set { 0o7 } else { value };
                            new &= !((clr << shift) & bits);
                        }
                        if set {
                            new |= (value << shift) & bits;
                        }
                    }
                }
            }
        }
        new
    }
}

/// BSD `setmode` clause grammar: `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`, clauses joined by `,`.
fn parse_symbolic(s: &str) -> Option<Vec<Cmd>> {
    let b = s.as_bytes();
    let mut i = 0usize;
    let mut cmds = Vec::new();
    loop {
        let mut who = 0u32;
        while let Some(&c) = b.get(i) {
            who |= match c {
                b'a' => STANDARD,
                b'u' => S_ISUID | 0o700,
                b'g' => S_ISGID | 0o070,
                b'o' => 0o007,
                _ => break,
            };
            i += 1;
        }
        let mut equal_done = false;
        loop {
            let op = *b.get(i)?;
            i += 1;
            match op {
                b'+' | b'-' => {}
                b'=' => equal_done = false,
                _ => return None,
            }
            who &= !S_ISVTX;
            let mut perm = 0u32;
            let mut perm_x = 0u32;
            loop {
                let c = b.get(i).copied();
                match c {
                    Some(b'r') => perm |= 0o444,
                    Some(b'w') => perm |= 0o222,
                    Some(b'x') => perm |= 0o111,
                    Some(b'X') => {
                        if op == b'+' {
                            perm_x = 0o111;
                        }
                    }
                    Some(b's') => {
                        if who == 0 || who & !0o007 != 0 {
                            perm |= S_ISUID | S_ISGID;
                        }
                    }
                    Some(b't') => {
                        if who == 0 || who & !0o007 != 0 {
                            who |= S_ISVTX;
                            perm |= S_ISVTX;
                        }
                    }
                    Some(class @ (b'u' | b'g' | b'o')) => {
                        if perm != 0 {
                            add(&mut cmds, op, who, perm);
                            perm = 0;
                        }
                        if op == b'=' {
                            equal_done = true;
                        }
                        if perm_x != 0 {
                            cmds.push(Cmd::CondExec(masked(who, perm_x)));
                            perm_x = 0;
                        }
                        cmds.push(copy_cmd(class, who, op));
                    }
                    _ => {
                        if perm != 0 || (op == b'=' && !equal_done) {
                            if op == b'=' {
                                equal_done = true;
                            }
                            add(&mut cmds, op, who, perm);
                        }
                        if perm_x != 0 {
                            cmds.push(Cmd::CondExec(masked(who, perm_x)));
                        }
                        break;
                    }
                }
                i += 1;
            }
            match b.get(i) {
                None => return Some(cmds),
                Some(b',') => {
                    i += 1;
                    break;
                }
                Some(_) => continue,
            }
        }
    }
}

fn masked(who: u32, bits: u32) -> u32 {
    if who != 0 { who & bits } else { MASK & bits }
}

fn add(cmds: &mut Vec<Cmd>, op: u8, who: u32, perm: u32) {
    match op {
        b'=' => {
            cmds.push(Cmd::Clear(if who != 0 { who } else { STANDARD }));
            cmds.push(Cmd::Set(masked(who, perm)));
        }
        b'+' => cmds.push(Cmd::Set(masked(who, perm))),
        _ => cmds.push(Cmd::Clear(masked(who, perm))),
    }
}

fn copy_cmd(class: u8, who: u32, op: u8) -> Cmd {
    let from = match class {
        b'u' => 6,
        b'g' => 3,
        _ => 0,
    };
    let (to, bits) = if who != 0 {
        (
            [who & 0o400 != 0, who & 0o040 != 0, who & 0o004 != 0],
            u32::MAX,
        )
    } else {
        ([true; 3], MASK)
    };
    Cmd::Copy {
        from,
        to,
        bits,
        set: op != b'-',
        clear: op != b'+',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        ModeSpec::parse(s).unwrap().apply(mode, dir)
    }

    #[test]
    fn octal_replaces_everything() {
        assert_eq!(sym("755", 0o644, false), 0o755);
        assert_eq!(sym("0640", 0o4777, false), 0o640);
        assert_eq!(sym("4755", 0o644, false), 0o4755);
        assert!(ModeSpec::parse("999").is_err());
        assert!(ModeSpec::parse("17777").is_err());
    }

    #[test]
    fn symbolic_like_chmod() {
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("g-w", 0o664, false), 0o644);
        assert_eq!(sym("u+x,g-w", 0o664, false), 0o744);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("a=r", 0o755, false), 0o444);
        assert_eq!(sym("go=", 0o755, false), 0o700);
        assert_eq!(sym("u=rwx,go=rx", 0o600, false), 0o755);
        assert_eq!(sym("go=u-w", 0o700, false), 0o755);
        assert_eq!(sym("g=u", 0o640, false), 0o660);
        assert_eq!(sym("o+t", 0o755, true), 0o755, "o alone ignores t");
        assert_eq!(sym("+t", 0o755, true), 0o1755);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("g+s", 0o755, false), 0o2755);
        assert_eq!(sym("u+r-w", 0o644, false), 0o444);
    }

    #[test]
    fn capital_x_only_for_dirs_and_executables() {
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("=rw,+X", 0o755, false), 0o777);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "rwx", "u", "u+z", "u+x,", "q+x", "+x,g"] {
            assert!(ModeSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
