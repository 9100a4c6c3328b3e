//! What the consumer, the sender pool and the API share: configuration, store, grid
//! (customer contact data), templates, and the signal that wakes idle senders when new
//! deliveries were committed. Also the contact resolution: the grid's customer data
//! overridden by the preferences API.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fudian_grid::Grid;
use fudian_store::{Store, Tx};
use tokio::sync::Notify;

use crate::config::NotifyConfig;
use crate::plan::{self, Contact, ContactSources};
use crate::service_error::ServiceError;
use crate::store::{self, PreferencesRow};
use crate::templates::{Channel, Templates};

/// The shared state of one notify service.
#[derive(Debug)]
pub struct Runtime {
    pub config: NotifyConfig,
    pub store: Store,
    pub grid: Arc<Grid>,
    pub templates: Templates,
    /// Notified after a commit that queued deliveries.
    pub wake: Notify,
}

impl Runtime {
    pub fn new(config: NotifyConfig, store: Store, grid: Arc<Grid>, templates: Templates) -> Self {
        Self {
            config,
            store,
            grid,
            templates,
            wake: Notify::new(),
        }
    }

    /// Contacts of `customers`, read in `tx` (their preferences); `critical` adds the
    /// customers an event flags critical to those the grid does. `None`: not in the grid.
    pub async fn contacts<'a>(
        &self,
        tx: &mut Tx,
        customers: &[&'a str],
        critical: &HashSet<&str>,
    ) -> Result<HashMap<&'a str, Option<Contact>>, ServiceError> {
        let preferences = store::preferences_of(tx, customers).await?;
        let mut contacts = HashMap::with_capacity(customers.len());
        for &customer in customers {
            let contact = self.contact(customer, preferences.get(customer));
            let contact = contact.map(|mut contact| {
                contact.critical |= critical.contains(customer);
                contact
            });
            contacts.insert(customer, contact);
        }
        Ok(contacts)
    }

    /// One customer's contact from the grid and their stored preferences.
    pub fn contact(&self, customer: &str, preferences: Option<&PreferencesRow>) -> Option<Contact> {
        let index = self.grid.customer_index(customer)?;
        let data = self.grid.customer(index);
        let grid_channels: Vec<Channel> = data.channels.iter().map(|&c| channel_of(c)).collect();
        let (preferred, opted_out) = parse_preferences(preferences);
        Some(plan::resolve_contact(ContactSources {
            grid_channels: &grid_channels,
            has_phone: data.phone.as_deref().is_some_and(|phone| !phone.is_empty()),
            has_wechat: data
                .wechat_openid
                .as_deref()
                .is_some_and(|openid| !openid.is_empty()),
            grid_critical: data.critical,
            preferred: preferred.as_deref(),
            opted_out: &opted_out,
        }))
    }

    /// The address of a customer on a channel: openid, E.164 number, or the account id
    /// for the app.
    pub fn address(&self, customer: &str, channel: Channel) -> Option<String> {
        let data = self.grid.customer(self.grid.customer_index(customer)?);
        let address = match channel {
            Channel::Wechat => data.wechat_openid.as_deref()?.to_owned(),
            Channel::Sms => data.phone.as_deref()?.to_owned(),
            Channel::App => data.id.to_string(),
        };
        (!address.is_empty()).then_some(address)
    }

    /// The area named in a notice: the repair cell the point lies in, else the default.
    pub fn area_at(&self, lon: f64, lat: f64) -> String {
        self.grid
            .spatial()
            .cell_at([lon, lat])
            .filter(|hit| hit.inside)
            .and_then(|hit| self.grid.cells.get(hit.cell as usize))
            .and_then(|cell| cell.name.as_deref().map(str::to_owned))
            .unwrap_or_else(|| self.config.default_area.clone())
    }
}

/// The grid's channel as the templates' channel.
pub fn channel_of(channel: fudian_grid::Channel) -> Channel {
    match channel {
        fudian_grid::Channel::Wechat => Channel::Wechat,
        fudian_grid::Channel::Sms => Channel::Sms,
        fudian_grid::Channel::App => Channel::App,
    }
}

/// Stored preferences as channel lists; unknown names (never written by the API) are
/// skipped.
pub fn parse_preferences(row: Option<&PreferencesRow>) -> (Option<Vec<Channel>>, Vec<Channel>) {
    let Some(row) = row else {
        return (None, Vec::new());
    };
    let parse = |text: &str| -> Vec<Channel> {
        serde_json::from_str::<Vec<String>>(text)
            .unwrap_or_default()
            .iter()
            .filter_map(|name| plan::parse_channel(name))
            .collect()
    };
    (row.channels.as_deref().map(parse), parse(&row.opted_out))
}

/// The embedded copy of the shipped templates, used when no folder is configured and the
/// crate's folder is not on this machine.
const EMBEDDED_TEMPLATES: &[(&str, &str)] = &[
    (
        "app/crew_arrived.json",
        include_str!("../templates/app/crew_arrived.json"),
    ),
    (
        "app/etr_changed.json",
        include_str!("../templates/app/etr_changed.json"),
    ),
    (
        "app/outage_detected.json",
        include_str!("../templates/app/outage_detected.json"),
    ),
    (
        "app/planned_advance.json",
        include_str!("../templates/app/planned_advance.json"),
    ),
    (
        "app/planned_end.json",
        include_str!("../templates/app/planned_end.json"),
    ),
    (
        "app/planned_reminder.json",
        include_str!("../templates/app/planned_reminder.json"),
    ),
    (
        "app/planned_start.json",
        include_str!("../templates/app/planned_start.json"),
    ),
    (
        "app/repair_progress.json",
        include_str!("../templates/app/repair_progress.json"),
    ),
    (
        "app/restored.json",
        include_str!("../templates/app/restored.json"),
    ),
    (
        "sms/outage_detected.txt",
        include_str!("../templates/sms/outage_detected.txt"),
    ),
    (
        "sms/planned_advance.txt",
        include_str!("../templates/sms/planned_advance.txt"),
    ),
    (
        "sms/planned_reminder.txt",
        include_str!("../templates/sms/planned_reminder.txt"),
    ),
    (
        "sms/restored.txt",
        include_str!("../templates/sms/restored.txt"),
    ),
    (
        "wechat/crew_arrived.txt",
        include_str!("../templates/wechat/crew_arrived.txt"),
    ),
    (
        "wechat/etr_changed.txt",
        include_str!("../templates/wechat/etr_changed.txt"),
    ),
    (
        "wechat/outage_detected.txt",
        include_str!("../templates/wechat/outage_detected.txt"),
    ),
    (
        "wechat/planned_advance.txt",
        include_str!("../templates/wechat/planned_advance.txt"),
    ),
    (
        "wechat/planned_end.txt",
        include_str!("../templates/wechat/planned_end.txt"),
    ),
    (
        "wechat/planned_reminder.txt",
        include_str!("../templates/wechat/planned_reminder.txt"),
    ),
    (
        "wechat/planned_start.txt",
        include_str!("../templates/wechat/planned_start.txt"),
    ),
    (
        "wechat/repair_progress.txt",
        include_str!("../templates/wechat/repair_progress.txt"),
    ),
    (
        "wechat/restored.txt",
        include_str!("../templates/wechat/restored.txt"),
    ),
];

/// Loads the configured template folder, else the crate's, else the embedded copy
/// (written to a folder under the system's temporary directory, since the loader reads
/// folders).
pub fn load_templates(configured: Option<&Path>) -> anyhow::Result<Templates> {
    use anyhow::Context;
    if let Some(dir) = configured {
        return Templates::load(dir)
            .with_context(|| format!("failed to load notify.templates_dir {}", dir.display()));
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    if crate_dir.is_dir() {
        return Templates::load(&crate_dir).context("failed to load the crate's templates");
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fudian-notify-templates-{}", std::process::id()));
    for (file, text) in EMBEDDED_TEMPLATES {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Templates::load(&dir).context("failed to load the embedded templates")
}
