//! `cairn run -t`: a pseudo-terminal of the command's own. cairn makes the pair, hands the
//! slave to the sandbox (the command's stdio and controlling terminal) and relays between the
//! master and this process's stdin/stdout — so the command never holds the user's terminal
//! (whose ioctls could change it, or push input into it), as docker gives a container a
//! terminal of its own. With `-i` the user's terminal is put in raw mode for the run (keys,
//! Ctrl-C included, go to the command's terminal) and restored after, whatever happens.

use anyhow::{Context as _, Result};
use rustix::termios::{OptionalActions, Termios, Winsize};
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::fd::{AsFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The relay while the command runs; dropping it restores the terminal and waits for the
/// command's last output.
pub struct Session {
    restore: Option<Termios>,
    stop: Arc<AtomicBool>,
    output: Option<JoinHandle<()>>,
}

/// The size of the terminal on stdout (else stdin), if either is one.
fn our_size() -> Option<Winsize> {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()
}

impl Session {
    /// A new pseudo-terminal sized as ours: its slave (for the command) and the relay.
    pub fn open(interactive: bool) -> Result<(OwnedFd, Session)> {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .context("cannot open a pseudo-terminal (/dev/ptmx)")?;
        grantpt(&master).context("grantpt")?;
        unlockpt(&master).context("unlockpt")?;
        let name = ptsname(&master, Vec::new()).context("ptsname")?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .context("cannot open the pseudo-terminal's slave")?;
        let size = our_size().unwrap_or(Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let _ = rustix::termios::tcsetwinsize(&master, size);
        let stop = Arc::new(AtomicBool::new(false));
        // Our terminal in raw mode while keys go to the command's.
        let restore = if interactive && std::io::stdin().is_terminal() {
            let saved = rustix::termios::tcgetattr(std::io::stdin())
                .context("cannot read this terminal's settings")?;
            let mut raw = saved.clone();
            raw.make_raw();
            rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &raw)
                .context("cannot put this terminal in raw mode")?;
            Some(saved)
        } else {
            None
        };
        let reader = master.try_clone().context("dup")?;
        let output = std::thread::Builder::new()
            .name("tty-out".into())
            .spawn(move || {
                let mut from = std::fs::File::from(reader);
                let mut buf = [0u8; 16 * 1024];
                // EIO once every slave descriptor is closed: the command and its children
                // are gone.
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut out = std::io::stdout().lock();
                    if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                        break;
                    }
                }
            })
            .context("cannot start the terminal relay")?;
        if interactive {
            let writer = master.try_clone().context("dup")?;
            std::thread::Builder::new()
                .name("tty-in".into())
                .spawn(move || {
                    let mut to = std::fs::File::from(writer);
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to);
                })
                .context("cannot start the terminal relay")?;
        }
        // Resizes of ours reach the command's terminal (its foreground gets SIGWINCH).
        let watch = stop.clone();
        std::thread::Builder::new()
            .name("tty-size".into())
            .spawn(move || {
                let mut last = size;
                while !watch.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    if let Some(now) = our_size()
                        && (now.ws_row, now.ws_col) != (last.ws_row, last.ws_col)
                    {
                        let _ = rustix::termios::tcsetwinsize(master.as_fd(), now);
                        last = now;
                    }
                }
            })
            .context("cannot start the terminal relay")?;
        Ok((
            slave,
            Session {
                restore,
                stop,
                output: Some(output),
            },
        ))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(saved) = self.restore.take() {
            let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &saved);
        }
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
    }
}
