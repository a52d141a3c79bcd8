//! Semantic rules of spec section 2, applied to a config that already matches the schema.
//! Every rule adds a problem with a span and keeps going, so a user sees all of them at once.

use crate::plan::describe::thousands;
use std::collections::HashMap;

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::diag::{Problem, Problems, Source};
use crate::model::desired as d;
use crate::yaml::SpanIndex;

use super::raw::{EnvironmentType, Kind, RawConfig, ResetTarget, ResetWhen};

pub(super) struct Ctx<'a> {
    pub(super) index: &'a SpanIndex,
    pub(super) source: &'a Source,
    pub(super) problems: Problems,
}

impl Ctx<'_> {
    pub(super) fn error(
        &mut self,
        code: &'static str,
        path: &str,
        msg: String,
        label: &str,
        help: &str,
    ) {
        self.problems.push(
            Problem::error(code, msg)
                .in_source(self.source)
                .at(self.index.value(path), label)
                .help(help),
        );
    }

    fn warn(&mut self, code: &'static str, path: &str, msg: String, label: &str, help: &str) {
        self.problems.push(
            Problem::warning(code, msg)
                .in_source(self.source)
                .at(self.index.value(path), label)
                .help(help),
        );
    }

    fn url(&mut self, path: &str, raw: &str) -> Option<Url> {
        let parsed = match Url::parse(raw) {
            Ok(u) if u.has_host() && matches!(u.scheme(), "https" | "http") => u,
            _ => {
                self.error(
                    "dwlink::config::invalid_url",
                    path,
                    format!("`{raw}` is not an absolute http(s) URL"),
                    "not a URL",
                    "write the environment's base URL, e.g. `https://contoso-uat.sandbox.operations.dynamics.com`",
                );
                return None;
            }
        };
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            self.error(
                "dwlink::config::insecure_url",
                path,
                format!("`{raw}` uses plain http to a host that is not loopback"),
                "tokens and secrets would travel unencrypted",
                "use https://; plain http is accepted only for 127.0.0.1, ::1 or localhost (the emulator)",
            );
        }
        // Every problem of the URL, not only the first: an insecure URL may also have a path.
        let insecure = parsed.scheme() == "http" && !is_loopback(&parsed);
        if (parsed.path() != "/" && !parsed.path().is_empty())
            || parsed.query().is_some()
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            let mut base = parsed.clone();
            base.set_path("/");
            base.set_query(None);
            base.set_fragment(None);
            let _ = base.set_username("");
            let _ = base.set_password(None);
            self.error(
                "dwlink::config::url_not_base",
                path,
                format!("`{raw}` has a path, query or credentials; dwlink needs the base URL"),
                "not a base URL",
                &format!("write `{}`", base.as_str().trim_end_matches('/')),
            );
            return None;
        }
        if insecure {
            return None;
        }
        Some(parsed)
    }

    fn guid(&mut self, path: &str, raw: &str) -> Option<Uuid> {
        match Uuid::try_parse(raw) {
            Ok(u) if raw.len() == 36 => Some(u),
            _ => {
                self.error(
                    "dwlink::config::invalid_guid",
                    path,
                    format!("`{raw}` is not a GUID"),
                    "not a GUID",
                    "write 32 hex digits in 8-4-4-4-12 groups, e.g. `4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10`",
                );
                None
            }
        }
    }
}

pub use crate::model::identity::is_loopback;
use crate::model::identity::same_host;

/// Typed view of a possibly ill-typed value: `None` when absent or of the wrong type (the schema
/// check already reported that), so semantic rules still run on everything else.
fn get<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = root;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn text<'v>(root: &'v Value, path: &str) -> Option<&'v str> {
    get(root, path)?.as_str()
}

fn typed<T: serde::de::DeserializeOwned>(root: &Value, path: &str) -> Option<T> {
    serde_json::from_value(get(root, path)?.clone()).ok()
}

fn strings(root: &Value, path: &str) -> Vec<Option<String>> {
    get(root, path)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Apply the semantic rules to the config as written, whatever else is wrong with it.
/// dwlink's own bound on `link.legal_entities` (no public figure limits an environment's
/// companies): every code travels in the one reset request, and a saved plan carrying thousands
/// of invented ones must not be sent.
pub const MAX_LEGAL_ENTITIES: usize = 1_000;

pub fn check(root: &Value, index: &SpanIndex, source: &Source) -> Problems {
    let mut cx = Ctx {
        index,
        source,
        problems: Problems::default(),
    };

    if let Some(name) = text(root, "metadata.name") {
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && name.as_bytes()[0].is_ascii_alphanumeric();
        if !name_ok {
            cx.error(
                "dwlink::config::invalid_name",
                "metadata.name",
                format!("`{name}` is not a valid environment name"),
                "invalid name",
                "use 1–63 letters, digits, `-`, `_` or `.`, starting with a letter or digit; it names backups and must be typed to confirm",
            );
        }
    }

    let env_type: Option<EnvironmentType> = typed(root, "finance_operations.environment_type");
    let explicit_protected = get(root, "metadata.protected").and_then(Value::as_bool);
    if env_type == Some(EnvironmentType::Production) && explicit_protected == Some(false) {
        cx.warn(
            "dwlink::config::production_unprotected",
            "metadata.protected",
            "this production environment allows destructive actions".into(),
            "production, explicitly unprotected",
            "keep `protected: false` only for the maintenance window that needs it",
        );
    }

    let fo_url =
        text(root, "finance_operations.url").and_then(|u| cx.url("finance_operations.url", u));
    if let Some(u) = text(root, "dataverse.url") {
        cx.url("dataverse.url", u);
    }
    if let Some(g) = text(root, "dataverse.organization_id") {
        cx.guid("dataverse.organization_id", g);
    }

    let target: Option<ResetTarget> = typed(root, "link.reset_target");
    if target == Some(ResetTarget::PowerPlatformLink)
        && env_type == Some(EnvironmentType::CloudHosted)
    {
        cx.error(
            "dwlink::config::cloud_hosted_target",
            "link.reset_target",
            "a cloud-hosted environment has no Power Platform link to reset to".into(),
            "not possible on cloud-hosted",
            "use `reset_target: current-environment`; linking a cloud-hosted environment to another organization needs a redeployment",
        );
    }

    let les = strings(root, "link.legal_entities");
    let mut seen: HashMap<String, usize> = HashMap::new();
    if les.len() > MAX_LEGAL_ENTITIES {
        // A list this long is a forged or generated file, not a company list: say so once
        // rather than check (and report on) every entry.
        cx.error(
            "dwlink::config::too_many_legal_entities",
            "link.legal_entities",
            format!(
                "{} legal entities are declared; dwlink takes at most {}",
                thousands(les.len()),
                thousands(MAX_LEGAL_ENTITIES)
            ),
            "too many",
            "declare the company codes dual-write syncs (F&O › Dual-write › Legal entities); the reset links exactly these",
        );
    }
    for (i, le) in les.iter().enumerate().take(MAX_LEGAL_ENTITIES) {
        let Some(le) = le else { continue };
        let path = format!("link.legal_entities[{i}]");
        let valid = (1..=4).contains(&le.len()) && le.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            cx.error(
                "dwlink::config::invalid_legal_entity",
                &path,
                format!("`{le}` is not a legal-entity code"),
                "not a company code",
                "a legal entity is its F&O company code: 1–4 letters or digits, e.g. `USMF`",
            );
            continue;
        }
        let upper = le.to_ascii_uppercase();
        if let Some(&first) = seen.get(&upper) {
            let first_span = index.value(&format!("link.legal_entities[{first}]"));
            cx.problems.push(
                Problem::error(
                    "dwlink::config::duplicate_legal_entity",
                    format!("legal entity `{upper}` is listed twice (codes are case-insensitive)"),
                )
                .in_source(source)
                .at(index.value(&path), "duplicate")
                .also(first_span, "first listed here")
                .help("remove one of them"),
            );
            continue;
        }
        seen.insert(upper, i);
    }
    // Warn only when the config really declares no company: not when `link` or its list has
    // the wrong type (the schema check already reported that). The caret goes to the empty
    // list, else to `link:`, else (no `link` at all) to the top of the document.
    let link = get(root, "link");
    let list = get(root, "link.legal_entities");
    let declares_none =
        les.is_empty() && link.is_none_or(Value::is_object) && list.is_none_or(Value::is_array);
    if declares_none {
        let span = if list.is_some() || index.has("link.legal_entities") {
            index.value("link.legal_entities")
        } else if link.is_some() || index.has("link") {
            index.key("link")
        } else {
            let start = index.value("").start;
            start..start
        };
        cx.problems.push(
            Problem::warning(
                "dwlink::config::no_legal_entities",
                "no legal entities are declared: the relinked connection will sync no company",
            )
            .in_source(source)
            .at(span, "no legal entities")
            .help("list the company codes to link, e.g. `link: {legal_entities: [USMF, DEMF]}`; leave it empty only on purpose"),
        );
    }

    let kind: Option<Kind> = typed(root, "kind");
    let restore = kind == Some(Kind::RestoreCleanup);
    let when: Option<ResetWhen> = typed(root, "reset.when");
    if restore {
        if when.is_some_and(|w| w != ResetWhen::Always) {
            cx.error(
                "dwlink::config::restore_cleanup_policy",
                "reset.when",
                "a RestoreCleanup always resets".into(),
                "contradicts kind: RestoreCleanup",
                "remove `reset.when` (it is `always` for RestoreCleanup) or use kind: DualWriteLink",
            );
        }
        if get(root, "reset.clear_tables").and_then(Value::as_bool) == Some(false) {
            cx.error(
                "dwlink::config::restore_cleanup_policy",
                "reset.clear_tables",
                "a RestoreCleanup always clears the key tables: the restored rows point at the source environment".into(),
                "contradicts kind: RestoreCleanup",
                "remove `reset.clear_tables` (it is `true` for RestoreCleanup)",
            );
        }
    }
    let has_restored_from = get(root, "restored_from").is_some();
    match (has_restored_from, restore) {
        (true, true) => {
            if let Some(u) = text(root, "restored_from.url").and_then(|u| cx.url("restored_from.url", u)) {
                if fo_url.as_ref().is_some_and(|fo| same_host(&u, fo)) {
                    cx.error(
                        "dwlink::config::restored_from_self",
                        "restored_from.url",
                        "`restored_from.url` names this environment itself".into(),
                        "same as finance_operations.url",
                        "name the environment whose database was copied here (usually production)",
                    );
                }
            }
        }
        (false, true) => cx.problems.push(
            Problem::error(
                "dwlink::config::restore_cleanup_source",
                "a RestoreCleanup must say where the database came from",
            )
            .in_source(source)
            .at(index.value("kind"), "RestoreCleanup needs `restored_from`")
            .help("add `restored_from: {url: https://contoso-prod.operations.dynamics.com}`"),
        ),
        (true, false) if kind.is_some() => cx.error(
            "dwlink::config::restored_from_unexpected",
            "restored_from",
            "`restored_from` is only meaningful in a RestoreCleanup manifest".into(),
            "only for kind: RestoreCleanup",
            "use `kind: RestoreCleanup` for a one-shot cleanup after a database restore, or remove `restored_from`",
        ),
        _ => {}
    }

    duplicates(
        &mut cx,
        "after_reset.start_maps",
        &strings(root, "after_reset.start_maps"),
        "dwlink::config::duplicate_map",
        "map",
    );
    duplicates(
        &mut cx,
        "after_reset.apply_solutions",
        &strings(root, "after_reset.apply_solutions"),
        "dwlink::config::duplicate_solution",
        "solution",
    );
    if !restore && when == Some(ResetWhen::Never) && get(root, "after_reset").is_some() {
        cx.problems.push(
            Problem::warning(
                "dwlink::config::after_reset_unused",
                "`after_reset` never runs because `reset.when` is `never`",
            )
            .in_source(source)
            .at(index.key("after_reset"), "never used")
            .help("remove `after_reset` or allow resets with `reset.when: on-mismatch`"),
        );
    }

    super::maps::check(&mut cx, root);

    if let Some(g) = text(root, "auth.tenant_id") {
        cx.guid("auth.tenant_id", g);
    }
    if let Some(g) = text(root, "auth.client_id") {
        cx.guid("auth.client_id", g);
    }
    if let Some(env) = text(root, "auth.client_secret_env") {
        if !is_env_name(env) {
            cx.error(
                "dwlink::config::literal_secret",
                "auth.client_secret_env",
                "`auth.client_secret_env` must name an environment variable, not hold the secret".into(),
                "this looks like a secret, not a variable name",
                "write the variable's name, e.g. `client_secret_env: DWLINK_CLIENT_SECRET`, and export the secret in it; rotate the secret if this file was shared",
            );
        }
    }
    if let Some(u) = text(root, "dual_write_service.url") {
        cx.url("dual_write_service.url", u);
    }
    if let Some(g) = text(root, "dual_write_service.client_id") {
        if cx.guid("dual_write_service.client_id", g).is_some()
            && typed::<d::DualWriteAuth>(root, "dual_write_service.auth")
                == Some(d::DualWriteAuth::ClientCredentials)
        {
            cx.warn(
                "dwlink::config::unused_client_id",
                "dual_write_service.client_id",
                "`dual_write_service.client_id` is not used with `auth: client-credentials`".into(),
                "never used",
                "the management-service client id is for signing in a user (`auth: device-code`); remove it, or the `auth` line",
            );
        }
    }
    // Optional in the schema so a config can be written before the host is known, but every
    // plan needs it: say so here rather than let the first plan be the one to fail.
    if get(root, "dual_write_service").is_none() {
        let span = if index.has("dual_write_service") {
            index.key("dual_write_service")
        } else {
            let start = index.value("").start;
            start..start
        };
        cx.problems.push(
            Problem::warning(
                "dwlink::config::no_dual_write_service",
                "no `dual_write_service` is declared: `plan` and `apply` cannot reach the dual-write management service",
            )
            .in_source(source)
            .at(span, "no `dual_write_service`")
            .help("add `dual_write_service: {url: https://projectmanagementservice.<region>.gateway.prod.island.powerapps.com}`; no API names the host: open the dual-write page of F&O with the browser's developer tools (Network tab) and copy the `projectmanagementservice…gateway.prod.island.powerapps.com` host its requests go to"),
        );
    }
    cx.problems
}

/// A variable name, and not a secret that happens to use only name characters: generated
/// secrets are long and mix cases and digits, variable names are short and upper-case.
fn is_env_name(env: &str) -> bool {
    let b = env.as_bytes();
    let looks_generated = b.len() >= 24
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_digit);
    !looks_generated
        && !env.is_empty()
        && env.len() <= 128
        && env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !env.as_bytes()[0].is_ascii_digit()
}

/// Resolve defaults of a config that passed [`check`]. `None` only if it did not.
pub fn desired(raw: &RawConfig) -> Option<d::Desired> {
    let env_type = raw.finance_operations.environment_type;
    let link = raw.link.clone().unwrap_or_default();
    let reset = raw.reset.clone().unwrap_or_default();
    let after = raw.after_reset.clone().unwrap_or_default();
    let restore = raw.kind == Kind::RestoreCleanup;
    let reset_target = link.reset_target.unwrap_or(match env_type {
        EnvironmentType::CloudHosted => ResetTarget::CurrentEnvironment,
        _ => ResetTarget::PowerPlatformLink,
    });
    let dual_write_service = match &raw.dual_write_service {
        Some(s) => Some(d::DualWriteService {
            url: Url::parse(&s.url).ok()?,
            auth: s.auth.unwrap_or(d::DualWriteAuth::DeviceCode),
            client_id: match &s.client_id {
                Some(g) => Uuid::try_parse(g).ok()?,
                None => d::DATA_INTEGRATION_CLIENT_ID,
            },
        }),
        None => None,
    };
    let restored_from = match &raw.restored_from {
        Some(r) => Some(Url::parse(&r.url).ok()?),
        None => None,
    };
    let organization_id = match &raw.dataverse.organization_id {
        Some(g) => Some(Uuid::try_parse(g).ok()?),
        None => None,
    };
    Some(d::Desired {
        kind: raw.kind,
        name: raw.metadata.name.clone(),
        protected: raw
            .metadata
            .protected
            .unwrap_or(env_type == EnvironmentType::Production),
        finance_operations: d::FinanceOperations {
            url: Url::parse(&raw.finance_operations.url).ok()?,
            environment_type: env_type,
        },
        dataverse: d::Dataverse {
            url: Url::parse(&raw.dataverse.url).ok()?,
            organization_id,
        },
        link: d::Link {
            reset_target,
            legal_entities: link
                .legal_entities
                .iter()
                .map(|l| l.to_ascii_uppercase())
                .collect(),
        },
        reset: d::Reset {
            when: if restore {
                ResetWhen::Always
            } else {
                reset.when.unwrap_or(ResetWhen::OnMismatch)
            },
            force: reset.force.unwrap_or(false),
            clear_tables: restore || reset.clear_tables.unwrap_or(true),
        },
        after_reset: d::AfterReset {
            apply_solutions: after.apply_solutions,
            start_maps: after.start_maps,
        },
        maps: super::maps::desired(&raw.maps)?,
        auth: d::Auth {
            tenant_id: Uuid::try_parse(&raw.auth.tenant_id).ok()?,
            client_id: Uuid::try_parse(&raw.auth.client_id).ok()?,
            client_secret_env: raw.auth.client_secret_env.clone(),
        },
        dual_write_service,
        restored_from,
    })
}

fn duplicates(
    cx: &mut Ctx<'_>,
    path: &str,
    items: &[Option<String>],
    code: &'static str,
    what: &str,
) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item else { continue };
        let key = item.trim().to_lowercase();
        if let Some(&first) = seen.get(&key) {
            let p = Problem::error(code, format!("{what} `{item}` is named twice in `{path}`"))
                .in_source(cx.source)
                .at(cx.index.value(&format!("{path}[{i}]")), "duplicate")
                .also(
                    cx.index.value(&format!("{path}[{first}]")),
                    "first named here",
                )
                .help(format!("remove one of them; each {what} is started once"));
            cx.problems.push(p);
        } else {
            seen.insert(key, i);
        }
    }
}
