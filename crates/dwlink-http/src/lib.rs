//! The production [`dwlink_core::link::Link`]: one [`transport::client::Client`] sends everything (production and emulator alike);
//! the service modules build requests and read replies.
//!
//! ```no_run
//! # async fn demo(desired: &dwlink_core::model::desired::Desired) -> Result<(), dwlink_core::link::ProviderError> {
//! use dwlink_http::{HttpProvider, ProviderSettings};
//! use dwlink_core::link::Link;
//! // Production (device-code prompts go through `notify`, e.g. the Ui's stderr):
//! let direct = HttpProvider::new(desired, ProviderSettings::direct(true, None))?;
//! // `--emulator-url URL`, or `--emulator FIXTURE` with the spawned emulator's `url()` (and, with
//! // --tls, `settings.client.extra_root_pem = emu.ca_pem()`):
//! let url = url::Url::parse("http://127.0.0.1:8080").unwrap();
//! let emulated = HttpProvider::new(desired, ProviderSettings::emulator(&url, false, None)?)?;
//! let live = emulated.read(desired).await?;
//! # let _ = (direct, live); Ok(()) }
//! ```

pub mod doctor;
mod link;
pub mod replay;
pub mod services;
pub mod signin;
pub mod transport;

use std::time::Duration;

use url::Url;

use self::services::odata::Paging;
use self::services::{admin, dataverse, dws, metadata};
use self::signin::auth::{self as auth, Auth, AuthSettings, Grant};
use self::signin::device_code;
use self::signin::device_code::{DeviceCodeSettings, Notify};
use self::signin::session::Session;
use self::transport::client::{join, Client, ClientSettings};
use self::transport::route::{check_scheme, Route};
use dwlink_core::link::error::ProviderError;
use dwlink_core::model::desired::{Desired, DualWriteAuth};

pub use self::services::admin::SharedAdminList;
pub use self::services::dataverse::FoIntegration;
pub use self::transport::route::Scheme;

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub client: ClientSettings,
    pub device_code: DeviceCodeSettings,
    pub paging: Paging,
    /// F&O grants pages of up to 10,000 rows (Dataverse 5,000): fewer round trips per table.
    pub fo_page_size: u32,
    /// `$batch` change sets in flight at once per table when deleting rows; the client's
    /// limiter ([`transport::throttle`]) still bounds all requests together and backs off on 429.
    pub batch_concurrency: usize,
    /// Rows per `$batch` change set (atomic unit of a delete or create). Both services take up
    /// to 1,000 requests in one batch: fewer round trips and fewer requests against the budget.
    pub fo_batch_size: usize,
    pub dataverse_batch_size: usize,
    /// First wait between two `Status/{id}` polls; doubles up to `max_poll_interval`.
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
    /// How long dwlink looks for the effect of a map start/stop whose reply was lost (5xx,
    /// broken connection) before concluding anything: seen, the request counts as done; not
    /// seen, and not listed by the service, it never ran and is sent again.
    pub confirm_window: Duration,
    /// The same for an apply solution.
    pub solution_window: Duration,
    /// The same for the reset: DWA's 300 s (`ResetLinkEngine.cs` 52), the time the service
    /// takes to answer one. A reset is sent again only when, after all of it, the connection
    /// set and its maps are exactly as before.
    pub reset_window: Duration,
    /// Set for fleets: plans of one run share one read of the admin API's list.
    pub shared_admin_list: Option<admin::SharedAdminList>,
    /// Set for fleets: plans signed in alike share their tokens.
    pub shared_auth: Option<auth::SharedAuth>,
}

impl ProviderSettings {
    pub fn paging_for(&self, api: dwlink_core::link::Api) -> Paging {
        match api {
            dwlink_core::link::Api::FinanceOperations => Paging {
                page_size: self.fo_page_size,
                ..self.paging
            },
            _ => self.paging,
        }
    }

    /// Production: real URLs, device-code tokens cached under the user's cache directory.
    pub fn direct(interactive: bool, notify: Option<Notify>) -> Self {
        ProviderSettings {
            client: ClientSettings::default(),
            device_code: DeviceCodeSettings {
                interactive,
                cache_file: device_code::default_cache_file(),
                cache_namespace: None,
                notify,
            },
            paging: Paging::default(),
            fo_page_size: 10_000,
            // A change set of 1,000 deletes runs long on the server: enough of them at once that
            // a 20,000-row table goes in one round (service protection allows 52 per user).
            batch_concurrency: 24,
            fo_batch_size: 1000,
            dataverse_batch_size: 1000,
            poll_interval: Duration::from_millis(500),
            max_poll_interval: Duration::from_secs(10),
            confirm_window: Duration::from_secs(30),
            solution_window: Duration::from_secs(30),
            reset_window: Duration::from_secs(300),
            shared_admin_list: None,
            shared_auth: None,
        }
    }

    /// `--emulator-url URL` (and `--emulator FIXTURE` with the in-process emulator's address):
    /// same client, every host routed to the emulator, tokens kept in memory only.
    pub fn emulator(
        emulator_url: &Url,
        interactive: bool,
        notify: Option<Notify>,
    ) -> Result<Self, ProviderError> {
        let mut s = ProviderSettings::direct(interactive, notify);
        s.client.route = Route::emulator_url(emulator_url)?;
        s.device_code.cache_file = None;
        s.poll_interval = Duration::from_millis(50);
        s.max_poll_interval = Duration::from_millis(500);
        // 25 times the emulator's default `async_ms` (40): a request it took shows its effect
        // long before.
        s.confirm_window = Duration::from_secs(1);
        s.solution_window = Duration::from_secs(1);
        // An emulated reset takes `--reset-ms` (default the 40 ms of `async_ms`): ten seconds
        // see any the emulator is told to take up to that, without a run that lost a reset's
        // reply to an injected fault waiting five minutes.
        s.reset_window = Duration::from_secs(10);
        // The emulator answers in microseconds and its faults are injected at random, so a short
        // backoff tests the same retry paths without waiting like a cloud service needs.
        s.client.retry.base_delay = Duration::from_millis(50);
        Ok(s)
    }
}

impl ProviderSettings {
    /// `--emulator-url URL` (and the Terraform provider's `emulator_url`): like
    /// [`ProviderSettings::emulator`], but a running emulator outlives one command, so
    /// `dwlink login --emulator-url` signs in once for the commands after it, in a cache file of
    /// its own, namespaced by the emulator's address.
    pub fn running_emulator(
        emulator_url: &Url,
        interactive: bool,
        notify: Option<Notify>,
    ) -> Result<Self, ProviderError> {
        let mut s = ProviderSettings::emulator(emulator_url, interactive, notify)?;
        s.device_code.cache_file = device_code::emulator_cache_file();
        s.device_code.cache_namespace =
            Some(emulator_url.as_str().trim_end_matches('/').to_string());
        Ok(s)
    }
}

/// The base URLs of the services of one environment, logical (as configured).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub fo: Url,
    pub fo_data: Url,
    pub dataverse: Url,
    pub dataverse_api: Url,
    pub dws: Option<dws::Gateway>,
    /// The Power Platform admin API ([`admin::ADMIN_API`]).
    pub admin: Url,
}

impl Endpoints {
    pub fn of(desired: &Desired) -> Result<Self, ProviderError> {
        let dir = |u: &Url| {
            let mut u = u.clone();
            if !u.path().ends_with('/') {
                u.set_path(&format!("{}/", u.path()));
            }
            u.set_query(None);
            u
        };
        let fo = dir(&desired.finance_operations.url);
        let dataverse = dir(&desired.dataverse.url);
        let dws = match &desired.dual_write_service {
            Some(s) => Some(dws::Gateway::new(&s.url)?),
            None => None,
        };
        Ok(Endpoints {
            fo_data: join(&fo, "data/")?,
            dataverse_api: join(&dataverse, "api/data/v9.2/")?,
            fo,
            dataverse,
            dws,
            admin: Url::parse(admin::ADMIN_API).map_err(|e| ProviderError::Setup {
                message: format!("the admin API's URL does not parse: {e}"),
                help: "report this as a dwlink bug".into(),
            })?,
        })
    }

    pub fn dws(&self) -> Result<&dws::Gateway, ProviderError> {
        self.dws.as_ref().ok_or_else(|| ProviderError::Setup {
            message: "no dual_write_service.url in the config: dwlink cannot read or change the dual-write connection".into(),
            help: "add `dual_write_service: {url: https://projectmanagementservice.<region>.gateway.prod.island.powerapps.com}` (the host the dual-write page of F&O calls)".into(),
        })
    }
}

#[derive(Debug)]
pub struct HttpProvider {
    session: Session,
    settings: ProviderSettings,
    endpoints: Endpoints,
    /// F&O `$metadata`, read once per run (it is large, and it does not change under a run).
    fo_metadata: tokio::sync::OnceCell<std::sync::Arc<metadata::Metadata>>,
    /// The requests in flight the last live read's replies listed, by connection set id
    /// ([`dwlink_core::link::Link::requests_seen_by_read`]); `None` when that read could not
    /// tell (no set, or a request list dwlink does not understand: the plan then asks again and
    /// reports that as it always did).
    seen_requests: std::sync::Mutex<Option<(String, Vec<dwlink_core::link::RequestId>)>>,
}

impl HttpProvider {
    /// A provider for the environment `desired` names. Nothing is sent yet; the client secret is
    /// read from its variable when the first token is needed.
    pub fn new(desired: &Desired, settings: ProviderSettings) -> Result<Self, ProviderError> {
        let endpoints = Endpoints::of(desired)?;
        check_scheme(&endpoints.fo)?;
        check_scheme(&endpoints.dataverse)?;
        if let Some(d) = &endpoints.dws {
            check_scheme(&d.root)?;
        }
        let client = Client::new(settings.client.clone())?;
        let auth_settings = AuthSettings {
            tenant_id: desired.auth.tenant_id,
            client_id: desired.auth.client_id,
            dual_write_client_id: desired.dual_write_client_id(),
            client_secret_env: desired.auth.client_secret_env.clone(),
            device_code: settings.device_code.clone(),
        };
        let auth = match &settings.shared_auth {
            Some(shared) => shared.get(&client, auth_settings),
            None => std::sync::Arc::new(Auth::new(client.clone(), auth_settings)),
        };
        let dual_write_grant = match desired.dual_write_service.as_ref().map(|s| s.auth) {
            Some(DualWriteAuth::ClientCredentials) => Grant::ClientCredentials,
            _ => Grant::DeviceCode,
        };
        Ok(HttpProvider {
            session: Session {
                client,
                auth,
                dual_write_grant,
            },
            settings,
            endpoints,
            fo_metadata: tokio::sync::OnceCell::new(),
            seen_requests: std::sync::Mutex::new(None),
        })
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The organization the Power Platform admin API links `fo_url` to, if any: where an
    /// import that knows only the F&O environment (`terraform import`) starts reading.
    pub async fn power_platform_link(
        &self,
        fo_url: &Url,
    ) -> Result<Option<dwlink_core::model::live::OrgRef>, ProviderError> {
        let linked =
            admin::linked_environment(&self.session, &self.endpoints.admin, fo_url, None).await?;
        Ok(linked.map(|l| l.organization))
    }

    /// The F&O environment the configured Dataverse organization says it is integrated with
    /// (`RetrieveFinanceAndOperationsIntegrationDetails`); `None` when it is not linked.
    pub async fn fo_integration_details(&self) -> Result<Option<FoIntegration>, ProviderError> {
        dataverse::fo_integration_details(&self.session, &self.endpoints.dataverse_api).await
    }

    /// `dwlink login`: signs a user in to the management service and caches the token (with
    /// its refresh token) for later runs of any command.
    pub async fn login(
        &self,
        with: device_code::LoginWith,
    ) -> Result<device_code::SignedIn, ProviderError> {
        self.session.auth.login(with).await
    }
}
