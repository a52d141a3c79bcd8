//! The resource and data source schemas: config v1 as attributes (spec section 6).

use std::collections::HashMap;

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock, Schema,
};

fn attr(t: AttributeType, c: AttributeConstraint, doc: &str) -> Attribute {
    Attribute {
        attr_type: t,
        description: Description::plain(doc),
        constraint: c,
        ..Default::default()
    }
}

use AttributeConstraint::{Computed, Optional, Required};
use AttributeType as T;

fn strings() -> T {
    T::List(Box::new(T::String))
}

/// Config v1 as attributes, plus what a plan and an apply compute.
pub fn link_attributes() -> HashMap<String, Attribute> {
    // An object type: every map names all five keys (`null` for a config default). Nested
    // attributes would let them be omitted, but tf-provider 0.2.2 sends them with both a type and
    // a nested type, which Terraform rejects.
    let map_object = T::Object(HashMap::from([
        ("name".to_string(), T::String),
        ("version".to_string(), T::String),
        ("state".to_string(), T::String),
        ("integration_keys".to_string(), strings()),
        ("initial_sync".to_string(), T::String),
    ]));
    let finding = T::Object(HashMap::from([
        ("code".to_string(), T::String),
        ("severity".to_string(), T::String),
        ("message".to_string(), T::String),
    ]));
    HashMap::from([
        ("id".into(), attr(T::String, Computed, "The F&O host.")),
        ("name".into(), attr(T::String, Required, "metadata.name: how plans, backups and journals name the environment. Changing it replaces the resource.")),
        ("finance_operations_url".into(), attr(T::String, Required, "finance_operations.url (https). Changing it replaces the resource.")),
        ("environment_type".into(), attr(T::String, Required, "production | sandbox | cloud-hosted")),
        ("dataverse_url".into(), attr(T::String, Required, "dataverse.url: the organization dual-write must be linked to.")),
        ("dataverse_organization_id".into(), attr(T::String, Optional, "dataverse.organization_id: when given, the live organization must have this id.")),
        ("protected".into(), attr(T::Bool, Optional, "metadata.protected: every destructive step is refused (default: true for production).")),
        ("reset_target".into(), attr(T::String, Optional, "link.reset_target: power-platform-link | current-environment")),
        ("legal_entities".into(), attr(T::Set(Box::new(T::String)), Optional, "link.legal_entities: F&O company codes.")),
        ("maps".into(), attr(T::List(Box::new(map_object)), Optional, "maps: the maps the link should run (config v1 `maps`).")),
        ("dual_write_service_url".into(), attr(T::String, Optional, "dual_write_service.url: the regional management-service gateway.")),
        ("dual_write_service_auth".into(), attr(T::String, Optional, "dual_write_service.auth: device-code (default) | client-credentials (emulator)")),
        ("scenario".into(), attr(T::String, Computed, "The reset scenario of the live state (1-4 of Microsoft's Reset dual-write page).")),
        ("live_dataverse_url".into(), attr(T::String, Computed, "The organization dual-write is connected to now.")),
        ("findings".into(), attr(T::List(Box::new(finding)), Computed, "dwlink's findings about the live state.")),
        ("planned_actions".into(), attr(strings(), Computed, "The plan's steps in order, as dwlink lists them; destructive ones end in [destructive].")),
        ("last_backup".into(), attr(T::String, Computed, "The backup the last apply wrote before deleting rows (`dwlink show` reads it).")),
    ])
}

/// `reset` and `after_reset`: blocks of at most one, as in config v1.
pub fn link_blocks() -> HashMap<String, NestedBlock> {
    let block = |attributes: HashMap<String, Attribute>, doc: &str| {
        NestedBlock::Optional(Block {
            attributes,
            description: Description::plain(doc),
            ..Default::default()
        })
    };
    HashMap::from([
        (
            "reset".into(),
            block(
                HashMap::from([
                    (
                        "when".into(),
                        attr(
                            T::String,
                            Optional,
                            "never | on-mismatch (default) | always",
                        ),
                    ),
                    (
                        "force".into(),
                        attr(T::Bool, Optional, "Stop running maps as part of the reset."),
                    ),
                    (
                        "clear_tables".into(),
                        attr(
                            T::Bool,
                            Optional,
                            "Clear the key tables before relinking (default true).",
                        ),
                    ),
                ]),
                "When and how the link is reset.",
            ),
        ),
        (
            "after_reset".into(),
            block(
                HashMap::from([
                    (
                        "apply_solutions".into(),
                        attr(strings(), Optional, "Solutions applied after a reset."),
                    ),
                    (
                        "start_maps".into(),
                        attr(strings(), Optional, "Maps started after the solutions."),
                    ),
                ]),
                "What a reset is followed by.",
            ),
        ),
    ])
}

pub fn link_schema(doc: &str) -> Schema {
    Schema {
        version: 1,
        block: Block {
            version: 1,
            attributes: link_attributes(),
            blocks: link_blocks(),
            description: Description::plain(doc),
            ..Default::default()
        },
    }
}

/// `dwlink_restore_cleanup`: the link's attributes, the environment the database came from, and
/// a trigger whose every new value asks for one more cleanup.
pub fn cleanup_schema() -> Schema {
    let mut s = link_schema("One restore cleanup (kind: RestoreCleanup) per value of `trigger`.");
    s.block.attributes.insert(
        "restored_from_url".into(),
        attr(T::String, Required, "restored_from.url: the F&O environment whose database was copied into this one. Changing it replaces the resource."),
    );
    s.block.attributes.insert(
        "trigger".into(),
        attr(
            T::String,
            Required,
            "Any string; a new value runs the cleanup again (e.g. the restore's date).",
        ),
    );
    s
}

pub fn status_schema() -> Schema {
    let table = T::Object(HashMap::from([
        ("service".to_string(), T::String),
        ("table".to_string(), T::String),
        ("rows".to_string(), T::Number),
    ]));
    let map = T::Object(HashMap::from([
        ("name".to_string(), T::String),
        ("state".to_string(), T::String),
    ]));
    let finding = T::Object(HashMap::from([
        ("code".to_string(), T::String),
        ("severity".to_string(), T::String),
        ("message".to_string(), T::String),
    ]));
    let mut attributes = link_attributes();
    for computed in [
        "id",
        "scenario",
        "live_dataverse_url",
        "findings",
        "planned_actions",
        "last_backup",
        "maps",
    ] {
        attributes.remove(computed);
    }
    attributes.extend([
        ("id".into(), attr(T::String, Computed, "The F&O host.")),
        (
            "scenario".into(),
            attr(T::String, Computed, "The reset scenario of the live state."),
        ),
        (
            "live_dataverse_url".into(),
            attr(
                T::String,
                Computed,
                "The organization dual-write is connected to now.",
            ),
        ),
        (
            "live_legal_entities".into(),
            attr(
                strings(),
                Computed,
                "The legal entities the connection syncs.",
            ),
        ),
        (
            "maps".into(),
            attr(
                T::List(Box::new(map)),
                Computed,
                "The connection's maps as live.",
            ),
        ),
        (
            "key_tables".into(),
            attr(
                T::List(Box::new(table)),
                Computed,
                "Rows dual-write owns per key table (-1: unreadable).",
            ),
        ),
        (
            "findings".into(),
            attr(
                T::List(Box::new(finding)),
                Computed,
                "dwlink's findings, as `dwlink status --json` gives them.",
            ),
        ),
        (
            "fingerprint".into(),
            attr(T::String, Computed, "The live state's fingerprint."),
        ),
    ]);
    Schema {
        version: 1,
        block: Block {
            version: 1,
            attributes,
            blocks: link_blocks(),
            description: Description::plain("The live dual-write link of one F&O environment, read-only (as `dwlink status --json`)."),
            ..Default::default()
        },
    }
}
