//! The provider block: credentials, where backups and journals go, and the optional emulator.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, Schema,
};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, DynamicDataSource, DynamicResource, Provider};
use url::Url;

use crate::document::Auth;
use crate::engine::Settings;
use crate::link::{Kind, LinkResource, Shared};
use crate::state::Text;

/// The variable a config names for the client secret, as `dwlink` itself defaults it.
pub const SECRET_ENV: &str = "DWLINK_CLIENT_SECRET";
/// Where a `client_secret` given in the provider block is handed to the HTTP client, which reads
/// secrets from the variable a config names (never from the config).
const BLOCK_SECRET_ENV: &str = "DWLINK_TERRAFORM_CLIENT_SECRET";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub tenant_id: Text,
    pub client_id: Text,
    pub client_secret: Text,
    pub state_dir: Text,
    pub emulator_url: Text,
    pub dual_write_service_url: Text,
    pub dual_write_service_auth: Text,
}

#[derive(Default)]
pub struct DwlinkProvider {
    pub settings: Shared,
}

fn attr(t: AttributeType, c: AttributeConstraint, doc: &str, sensitive: bool) -> Attribute {
    Attribute {
        attr_type: t,
        description: Description::plain(doc),
        constraint: c,
        sensitive,
        ..Default::default()
    }
}

#[async_trait]
impl Provider for DwlinkProvider {
    type Config<'a> = ProviderConfig;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        use AttributeConstraint::*;
        use AttributeType::String as S;
        Some(Schema {
            version: 1,
            block: Block {
                version: 1,
                description: Description::plain("dwlink: dual-write links planned and applied like infrastructure."),
                attributes: HashMap::from([
                    ("tenant_id".into(), attr(S, Required, "Microsoft Entra tenant id (GUID).", false)),
                    ("client_id".into(), attr(S, Required, "App registration (client) id (GUID).", false)),
                    ("client_secret".into(), attr(S, Optional, "The app registration's secret. Default: the environment variable DWLINK_CLIENT_SECRET.", true)),
                    ("state_dir".into(), attr(S, Optional, "Where backups and journals go (default .dwlink in the working directory).", false)),
                    ("emulator_url".into(), attr(S, Optional, "Send every request to a running `dwlink emulator` (rehearsals, tests).", false)),
                    ("dual_write_service_url".into(), attr(S, Optional, "The management-service gateway `terraform import` reads through.", false)),
                    ("dual_write_service_auth".into(), attr(S, Optional, "How import signs in to it: device-code (default) | client-credentials.", false)),
                ]),
                ..Default::default()
            },
        })
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        let required = |v: &Text, name: &'static str, diags: &mut Diagnostics| match v {
            Value::Value(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => {
                diags.error(
                    format!("{name} is required [dwlink::provider::{name}]"),
                    "set it in the provider \"dwlink\" block (a GUID)",
                    AttributePath::new(name),
                );
                None
            }
        };
        let tenant_id = required(&config.tenant_id, "tenant_id", diags);
        let client_id = required(&config.client_id, "client_id", diags);
        let client_secret_env = match &config.client_secret {
            Value::Value(secret) if !secret.is_empty() => {
                if secret.contains('\0') {
                    diags.error(
                        "client_secret contains a NUL character [dwlink::provider::client_secret]",
                        "paste the secret exactly as the app registration shows it",
                        AttributePath::new("client_secret"),
                    );
                    return None;
                }
                // Set once, while the provider is configured and before any request is made.
                std::env::set_var(BLOCK_SECRET_ENV, secret);
                BLOCK_SECRET_ENV
            }
            _ => SECRET_ENV,
        };
        let emulator_url = match &config.emulator_url {
            Value::Value(u) => {
                match Url::parse(u) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        diags.error(
                        format!("emulator_url `{u}` is not a URL: {e} [dwlink::provider::emulator_url]"),
                        "give the address `dwlink emulator` printed, e.g. http://127.0.0.1:8787",
                        AttributePath::new("emulator_url"),
                    );
                        return None;
                    }
                }
            }
            _ => None,
        };
        let state_dir = config
            .state_dir
            .as_ref_option()
            .map_or_else(|| PathBuf::from(".dwlink"), PathBuf::from);
        let import_gateway = config.dual_write_service_url.as_ref_option().map(|u| {
            (
                u.clone(),
                config.dual_write_service_auth.as_ref_option().cloned(),
            )
        });
        let settings = Settings {
            auth: Auth {
                tenant_id: tenant_id?,
                client_id: client_id?,
                client_secret_env: client_secret_env.into(),
            },
            state_dir,
            emulator_url,
            import_gateway,
        };
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Some(settings);
        Some(())
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        let link = |kind| -> Box<dyn DynamicResource> {
            Box::new(LinkResource {
                kind,
                settings: self.settings.clone(),
            })
        };
        Some(HashMap::from([
            ("dual_write_link".to_string(), link(Kind::Link)),
            ("restore_cleanup".to_string(), link(Kind::RestoreCleanup)),
        ]))
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        let status: Box<dyn DynamicDataSource> = Box::new(crate::status::StatusDataSource {
            settings: self.settings.clone(),
        });
        Some(HashMap::from([("dual_write_status".to_string(), status)]))
    }
}
