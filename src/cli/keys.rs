use super::output::table;
use super::Cli;
use stockcast::keys::{create_key, list_keys, revoke_key, Role};

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print its secret (shown only this once; only a hash is stored).
    Create {
        #[arg(long, value_enum)]
        role: Role,
        /// A note on who or what uses the key.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (ids, roles, labels; never secrets).
    List,
    /// Revoke a key by id (running services stop accepting it within the key cache time, 5 s).
    Revoke { id: String },
}

pub async fn run(cli: &Cli, args: &KeysArgs) -> anyhow::Result<()> {
    let store = super::open_store(cli).await?;
    let now = chrono::Utc::now();
    match &args.command {
        KeysCommand::Create { role, label } => {
            let (key, secret) = create_key(&store, *role, label, now).await?;
            if !cli.quiet {
                eprintln!(
                    "created {} ({}); the secret below is shown only once:",
                    key.id,
                    key.role.as_str()
                );
            }
            println!("{secret}");
        }
        KeysCommand::List => {
            let keys = list_keys(&store).await?;
            let mut out = table(&["id", "role", "label", "created", "revoked"]);
            for key in keys {
                out.add_row(vec![
                    key.id,
                    key.role.as_str().to_string(),
                    key.label,
                    key.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    key.revoked_at
                        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                ]);
            }
            println!("{out}");
        }
        KeysCommand::Revoke { id } => {
            revoke_key(&store, id, now).await?;
            if !cli.quiet {
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}
