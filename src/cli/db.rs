use super::output::{table, thousands};
use super::Cli;
use anyhow::Context;
use stockcast::store::{Store, StoreOptions};

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (creates the SQLite file if needed).
    Migrate,
    /// Show the backend, applied and pending migrations, and table sizes.
    Status,
}

pub async fn run(cli: &Cli, args: &DbArgs) -> anyhow::Result<()> {
    match args.command {
        DbCommand::Migrate => {
            let store = Store::connect(&cli.database_url, &StoreOptions::default())
                .await
                .with_context(|| {
                    format!("opening {}", stockcast::store::redact(&cli.database_url))
                })?;
            let applied = store.migrate().await?;
            if !cli.quiet {
                println!(
                    "{}: {applied} migration(s) applied, schema up to date",
                    stockcast::store::redact(&cli.database_url)
                );
            }
        }
        DbCommand::Status => {
            let store = Store::connect(&cli.database_url, &StoreOptions::default())
                .await
                .with_context(|| {
                    format!("opening {}", stockcast::store::redact(&cli.database_url))
                })?;
            let status = store.status().await?;
            println!(
                "backend: {}  ({})",
                status.backend,
                stockcast::store::redact(&cli.database_url)
            );
            let mut migrations = table(&["migration", "description", "state"]);
            for applied in &status.applied {
                migrations.add_row(vec![
                    applied.version.to_string(),
                    applied.description.clone(),
                    format!("applied {}", applied.installed_on.format("%Y-%m-%d %H:%M")),
                ]);
            }
            for (version, description) in &status.pending {
                migrations.add_row(vec![
                    version.to_string(),
                    description.clone(),
                    "pending".to_string(),
                ]);
            }
            println!("{migrations}");
            let mut tables = table(&["table", "rows"]);
            for count in &status.tables {
                tables.add_row(vec![
                    count.table.clone(),
                    thousands(count.rows.max(0) as usize),
                ]);
            }
            println!("{tables}");
        }
    }
    Ok(())
}
