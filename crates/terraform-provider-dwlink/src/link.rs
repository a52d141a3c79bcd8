//! `dwlink_dual_write_link` (and, with `kind: RestoreCleanup`, `dwlink_restore_cleanup`):
//! plan = dwlink's plan from live state; apply = that plan, refused if live state moved.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};

use dwlink_core::diag::Problem;
use dwlink_core::model::desired::Desired;
use dwlink_core::model::live::LiveState;
use dwlink_core::plan::{ActionKind, FindingCode, Plan};

use crate::document::{self, add};
use crate::engine::{self, Settings};
use crate::state::{text, texts, FindingObject, LinkState};

pub type Shared = Arc<RwLock<Option<Settings>>>;

/// Which kind of config v1 the resource declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Link,
    RestoreCleanup,
}

impl Kind {
    fn config_kind(self) -> &'static str {
        match self {
            Kind::Link => "DualWriteLink",
            Kind::RestoreCleanup => "RestoreCleanup",
        }
    }

    fn resource(self) -> &'static str {
        match self {
            Kind::Link => "dwlink_dual_write_link",
            Kind::RestoreCleanup => "dwlink_restore_cleanup",
        }
    }
}

pub struct LinkResource {
    pub kind: Kind,
    pub settings: Shared,
}

/// The live state as last read (refresh, apply), kept beside the state. A plan is made from it,
/// so the plan Terraform makes again when it applies a saved plan is the same plan; apply then
/// reads live state again and refuses when it moved.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Private {
    /// The `LiveState` as JSON (its own serde form, whatever the protocol's codec does).
    pub live: String,
}

impl Private {
    fn of(live: &LiveState) -> Value<Private> {
        match serde_json::to_string(live) {
            Ok(live) => Value::Value(Private { live }),
            Err(_) => Value::Null,
        }
    }

    fn live(p: &Value<Private>) -> Option<LiveState> {
        p.as_ref_option()
            .and_then(|p| serde_json::from_str(&p.live).ok())
    }
}

pub fn configured(settings: &Shared, diags: &mut Diagnostics) -> Option<Settings> {
    let s = settings.read().unwrap_or_else(|p| p.into_inner()).clone();
    if s.is_none() {
        diags.root_error(
            "the dwlink provider is not configured",
            "declare a `provider \"dwlink\" {}` block with tenant_id and client_id",
        );
    }
    s
}

/// The finding's attribute, when one attribute decides it.
fn finding_path(code: FindingCode) -> AttributePath {
    match code {
        FindingCode::Protected => AttributePath::new("protected"),
        FindingCode::MapsRunning => AttributePath::new("reset").index(0).attribute("force"),
        FindingCode::ResetDisabled => AttributePath::new("reset").index(0).attribute("when"),
        FindingCode::TargetUnreachable | FindingCode::TargetIrreversible => {
            AttributePath::new("reset_target")
        }
        FindingCode::TargetOrganizationId => AttributePath::new("dataverse_organization_id"),
        FindingCode::LegalEntitiesDiffer => AttributePath::new("legal_entities"),
        _ => AttributePath::root(),
    }
}

/// Error findings fail the plan, warnings warn; both name dwlink's code.
pub fn finding_diagnostics(plan: &Plan, diags: &mut Diagnostics) {
    for f in &plan.findings {
        add(diags, &f.to_problem(), finding_path(f.code));
    }
}

pub fn findings(plan: &Plan) -> Value<Vec<Value<FindingObject>>> {
    Value::Value(
        plan.findings
            .iter()
            .map(|f| {
                Value::Value(FindingObject {
                    code: text(f.code.as_str()),
                    severity: text(f.severity.to_string()),
                    message: text(f.message.clone()),
                })
            })
            .collect(),
    )
}

pub fn live_dataverse(live: &LiveState) -> Value<String> {
    live.connection
        .as_ref()
        .and_then(|c| c.organization.as_ref())
        .map_or(Value::Null, |o| text(o.url.as_str().trim_end_matches('/')))
}

fn scenario(plan: &Plan) -> Value<String> {
    text(format!("{}", plan.scenario.number))
}

fn problem(diags: &mut Diagnostics, p: &Problem) {
    add(diags, p, AttributePath::root());
}

/// The F&O host, the resource's id.
fn host(url: &Value<String>) -> Value<String> {
    match url {
        Value::Value(u) => url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .map_or(Value::Unknown, text),
        Value::Null => Value::Null,
        Value::Unknown => Value::Unknown,
    }
}

impl LinkResource {
    /// The desired model these attributes declare, problems reported at their attributes.
    /// `warnings`: whether the loader's warnings are reported (once, at validation).
    fn desired(
        &self,
        s: &LinkState,
        settings: &Settings,
        diags: &mut Diagnostics,
        warnings: bool,
    ) -> Option<Desired> {
        let doc = document::document(s, &settings.auth, self.kind.config_kind());
        let checked = document::check(&doc, self.kind.resource());
        let mut checked_diags = checked.diagnostics;
        if !warnings {
            checked_diags.warnings.clear();
        }
        let failed = !checked_diags.errors.is_empty();
        diags.add_diagnostics(checked_diags);
        if failed {
            return None;
        }
        checked.desired
    }

    /// The planned state: the declaration plus what dwlink's plan says about it.
    async fn plan_state(
        &self,
        diags: &mut Diagnostics,
        proposed: LinkState,
        prior: Option<(&LinkState, &Value<Private>)>,
    ) -> Option<(LinkState, Value<Private>)> {
        let mut planned = proposed;
        planned.id = host(&planned.finance_operations_url);
        if planned.has_unknown() {
            // Known after an upstream resource exists: dwlink plans then (at apply).
            planned.scenario = Value::Unknown;
            planned.live_dataverse_url = Value::Unknown;
            planned.findings = Value::Unknown;
            planned.planned_actions = Value::Unknown;
            planned.last_backup = Value::Unknown;
            return Some((planned, Value::Null));
        }
        let settings = configured(&self.settings, diags)?;
        let desired = self.desired(&planned, &settings, diags, false)?;
        let known = prior.and_then(|(_, private)| Private::live(private));
        let live = match known {
            Some(live) => live,
            None => match settings.read_live(&desired).await {
                Ok(live) => live,
                Err(p) => {
                    problem(diags, &p);
                    return None;
                }
            },
        };
        let plan = match settings.plan_from(&desired, &live) {
            Ok(plan) => plan,
            Err(p) => {
                problem(diags, &p);
                return None;
            }
        };
        finding_diagnostics(&plan, diags);
        if plan.has_errors() {
            return None;
        }
        let prior_backup = prior.map_or(Value::Null, |(p, _)| p.last_backup.clone());
        planned.scenario = scenario(&plan);
        planned.findings = findings(&plan);
        planned.planned_actions = texts(engine::actions(&plan));
        if plan.has_changes() {
            // What dwlink finds after the steps is known once they ran (the findings of now are
            // the diagnostics above); `scenario` stays the one the steps handle.
            planned.findings = Value::Unknown;
            planned.live_dataverse_url = Value::Unknown;
            let backs_up = plan
                .actions
                .iter()
                .any(|a| a.action.kind() == ActionKind::Backup);
            planned.last_backup = if backs_up {
                Value::Unknown
            } else {
                prior_backup
            };
        } else {
            planned.live_dataverse_url = live_dataverse(&live);
            planned.last_backup = prior_backup;
        }
        Some((planned, Private::of(&live)))
    }

    /// Create and update: the planned steps, executed.
    async fn execute(
        &self,
        diags: &mut Diagnostics,
        planned: LinkState,
        private: Value<Private>,
    ) -> Option<(LinkState, Value<Private>)> {
        let settings = configured(&self.settings, diags)?;
        let desired = self.desired(&planned, &settings, diags, false)?;
        let shown: Vec<String> = planned
            .planned_actions
            .iter()
            .flatten()
            .filter_map(|t| t.as_ref_option().cloned())
            .collect();
        let fingerprint = match (
            Private::live(&private),
            planned.planned_actions.is_unknown(),
        ) {
            (Some(live), false) => Some(live.fingerprint()),
            _ => None,
        };
        let mut state = planned;
        let applied = match fingerprint {
            Some(f) => settings.apply(&desired, &f, &shown).await,
            // Planned while an input was unknown: plan now, from live state as it is, and run
            // that (Terraform showed that the steps were not known yet).
            None => match settings.plan(&desired).await {
                Ok((plan, live)) => {
                    finding_diagnostics(&plan, diags);
                    if plan.has_errors() {
                        return None;
                    }
                    let lines = engine::actions(&plan);
                    state.scenario = scenario(&plan);
                    state.findings = findings(&plan);
                    state.planned_actions = texts(lines.clone());
                    settings.apply(&desired, &live.fingerprint(), &lines).await
                }
                Err(p) => Err(p),
            },
        };
        let applied = match applied {
            Ok(a) => a,
            Err(p) => {
                problem(diags, &p);
                return None;
            }
        };
        if let Some(b) = &applied.backup {
            state.last_backup = text(b.display().to_string());
        } else if state.last_backup.is_unknown() {
            state.last_backup = Value::Null;
        }
        // The link as the steps left it: what the next plan is made from.
        let (after, live) = match settings.plan(&desired).await {
            Ok(r) => r,
            Err(p) => {
                problem(diags, &p);
                return None;
            }
        };
        if state.scenario.is_unknown() {
            state.scenario = scenario(&after);
        }
        if state.findings.is_unknown() {
            state.findings = findings(&after);
        }
        if state.live_dataverse_url.is_unknown() {
            state.live_dataverse_url = live_dataverse(&live);
        }
        Some((state, Private::of(&live)))
    }
}

#[async_trait]
impl Resource for LinkResource {
    type State<'a> = LinkState;
    type PrivateState<'a> = Value<Private>;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(match self.kind {
            Kind::Link => crate::schema::link_schema(
                "The dual-write link of one F&O environment, planned and applied by dwlink.",
            ),
            Kind::RestoreCleanup => crate::schema::cleanup_schema(),
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        if config.has_unknown() {
            return Some(());
        }
        // The provider may not be configured yet: `auth` is checked with the provider block.
        let settings = Settings {
            auth: document::Auth {
                tenant_id: "00000000-0000-0000-0000-000000000000".into(),
                client_id: "00000000-0000-0000-0000-000000000000".into(),
                client_secret_env: crate::provider::SECRET_ENV.into(),
            },
            state_dir: ".dwlink".into(),
            emulator_url: None,
            import_gateway: None,
        };
        self.desired(&config, &settings, diags, true).map(|_| ())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let settings = configured(&self.settings, diags)?;
        let desired = self.desired(&state, &settings, diags, false)?;
        let (plan, live) = match settings.plan(&desired).await {
            Ok(r) => r,
            Err(p) => {
                problem(diags, &p);
                return None;
            }
        };
        let mut state = state;
        state.id = host(&state.finance_operations_url);
        state.scenario = scenario(&plan);
        state.live_dataverse_url = live_dataverse(&live);
        if state.findings.is_null() {
            // Just imported: the findings of now are where it starts from.
            state.findings = findings(&plan);
        }
        // `findings` otherwise stay those of the last apply: findings that moved since are drift, and show
        // as a change in the next plan. A refreshed object has nothing pending: what a plan
        // would do now shows as a change of `planned_actions`.
        state.planned_actions = Value::Value(Vec::new());
        Some((state, Private::of(&live)))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        self.plan_state(diags, proposed, None).await
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        proposed: Self::State<'a>,
        _config: Self::State<'a>,
        prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let mut replace = Vec::new();
        let mut fields = vec!["name", "finance_operations_url"];
        if self.kind == Kind::RestoreCleanup {
            fields.extend(["restored_from_url", "trigger"]);
        }
        let value = |s: &LinkState, f: &str| -> Option<Value<String>> {
            match f {
                "name" => Some(s.name.clone()),
                "finance_operations_url" => Some(s.finance_operations_url.clone()),
                "restored_from_url" => s.restored_from_url.clone(),
                _ => s.trigger.clone(),
            }
        };
        for f in fields {
            if value(&prior, f) != value(&proposed, f) {
                replace.push(AttributePath::new(f));
            }
        }
        if self.kind == Kind::RestoreCleanup && replace.is_empty() {
            // One cleanup per trigger value: with the trigger unchanged there is nothing to do.
            let mut same = proposed;
            same.id = prior.id.clone();
            same.scenario = prior.scenario.clone();
            same.live_dataverse_url = prior.live_dataverse_url.clone();
            same.findings = prior.findings.clone();
            same.planned_actions = prior.planned_actions.clone();
            same.last_backup = prior.last_backup.clone();
            return Some((same, prior_private, replace));
        }
        // A replacement plans the new object from live state as it is, like a create.
        let basis = replace.is_empty().then_some((&prior, &prior_private));
        let (planned, private) = self.plan_state(diags, proposed, basis).await?;
        Some((planned, private, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _prior_private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        forget_warning(diags, &prior);
        Some(Value::Null)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        self.execute(diags, planned, private).await
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        _prior: Self::State<'a>,
        planned: Self::State<'a>,
        _config: Self::State<'a>,
        private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        self.execute(diags, planned, private).await
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Self::State<'a>,
        _private: Self::PrivateState<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        // Also here: a replacement destroys without planning a destroy.
        forget_warning(diags, &prior);
        Some(())
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        if self.kind != Kind::Link {
            diags.root_error_short("dwlink_restore_cleanup cannot be imported: declare it");
            return None;
        }
        let settings = configured(&self.settings, diags)?;
        match crate::import::import(&settings, &id).await {
            Ok(state) => Some((state, Value::Null)),
            Err(p) => {
                problem(diags, &p);
                None
            }
        }
    }
}

/// Dual-write has no unlink call: removing the resource only forgets it.
fn forget_warning(diags: &mut Diagnostics, prior: &LinkState) {
    diags.warning(
        "destroying forgets the link; nothing is changed in the services",
        format!(
            "dual-write has no unlink call: {} stays linked as it is. To relink it elsewhere, declare it again with another dataverse_url.",
            prior.finance_operations_url.as_ref_option().map_or("the environment", |s| s.as_str())
        ),
        AttributePath::root(),
    );
}
