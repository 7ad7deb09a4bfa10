//! `koe users add NAME --role ROLE` and `koe users password NAME`: accounts from the command line, with
//! the password read from stdin (one line) so that it appears in no process list or shell history.

use crate::config::Config;
use crate::store::{Role, Store};
use std::io::{BufRead, IsTerminal};

#[derive(clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(clap::Subcommand)]
enum UsersCommand {
    /// Create an account; the password is read from stdin.
    Add {
        name: String,
        /// admin, agent or supervisor.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set an account's password (read from stdin) and end its sessions.
    Password { name: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: expected admin, agent or supervisor"))
}

pub fn run(args: &UsersArgs, config: &Config) -> anyhow::Result<()> {
    let password = read_password(std::io::stdin().lock())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = Store::open(&config.data.dir).await?;
        match &args.command {
            UsersCommand::Add { name, role } => {
                super::create_user(&store, name, &password, *role).await?;
                println!("created user {name} ({})", role.as_str());
            }
            UsersCommand::Password { name } => {
                super::set_password(&store, name, &password).await?;
                println!("password of {name} changed; its sessions are ended");
            }
        }
        Ok(())
    })
}

/// The first line of `input`, without its line ending.
fn read_password(mut input: impl BufRead) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as typed): ");
    }
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_is_the_first_line() {
        let read = |s: &str| super::read_password(s.as_bytes()).unwrap();
        assert_eq!(read("s3cret pass\nrest"), "s3cret pass");
        assert_eq!(read("crlf-line\r\n"), "crlf-line");
        assert_eq!(read("no newline"), "no newline");
        assert_eq!(read(""), "");
    }
}
