//! The F&O `$metadata` (CSDL XML), read for what dwlink must not assume: which entity sets an
//! environment really has, their keys and their properties (UO `data-entities/odata.md`: the
//! metadata document describes the entities an environment exposes). A real document holds
//! thousands of entity types; it is streamed once per run and only names are kept.

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An entity set as `$metadata` states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetInfo {
    /// Key properties in document order: a DELETE names each of them.
    pub keys: Vec<String>,
    pub properties: BTreeSet<String>,
    /// Each property's stated `Type` (`Edm.String`, an enum's qualified name, …), where given:
    /// the key and fact cells of every reply are held to it ([`super::typed`]).
    pub types: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Metadata {
    sets: BTreeMap<String, SetInfo>,
}

/// How many `BaseType` links are followed: CSDL allows chains, none this long is sane.
const MAX_BASE_DEPTH: usize = 16;

#[derive(Default)]
struct TypeInfo {
    keys: Vec<String>,
    properties: BTreeSet<String>,
    types: BTreeMap<String, String>,
    base: Option<String>,
}

impl Metadata {
    pub(crate) fn set(&self, name: &str) -> Option<&SetInfo> {
        self.sets.get(name)
    }

    /// Sets with a key, as `dwlink doctor` reports the document.
    pub(crate) fn set_count(&self) -> usize {
        self.sets.len()
    }

    /// Reads a CSDL document. Errors name what is wrong and where (byte offset), never panic.
    pub(crate) fn parse(xml: &[u8]) -> Result<Metadata, String> {
        let text = std::str::from_utf8(xml)
            .map_err(|e| format!("$metadata is not UTF-8 (at byte {})", e.valid_up_to()))?;
        let mut reader = Reader::from_str(text);
        let mut types: BTreeMap<String, TypeInfo> = BTreeMap::new();
        let mut aliases: BTreeMap<String, String> = BTreeMap::new();
        let mut raw_sets: Vec<(String, String)> = Vec::new();
        let mut namespace = String::new();
        let mut current: Option<String> = None;
        let mut in_key = false;
        let mut saw_edmx = false;
        loop {
            let at = reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|e| format!("$metadata is not well-formed XML at byte {at}: {e}"))?;
            let (start, empty) = match &event {
                Event::Start(s) => (Some(s), false),
                Event::Empty(s) => (Some(s), true),
                Event::End(e) => {
                    match e.local_name().as_ref() {
                        b"EntityType" => current = None,
                        b"Key" => in_key = false,
                        _ => {}
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let Some(s) = start else { continue };
            match s.local_name().as_ref() {
                b"Edmx" => saw_edmx = true,
                b"Schema" => {
                    namespace = attr(s, "Namespace")?.unwrap_or_default();
                    if let Some(alias) = attr(s, "Alias")? {
                        aliases.insert(alias, namespace.clone());
                    }
                }
                b"EntityType" => {
                    let name = attr(s, "Name")?.ok_or("an EntityType has no Name")?;
                    let full = format!("{namespace}.{name}");
                    let info = types.entry(full.clone()).or_default();
                    info.base = attr(s, "BaseType")?;
                    current = (!empty).then_some(full);
                }
                b"Key" => in_key = !empty && current.is_some(),
                b"PropertyRef" if in_key => {
                    let name = attr(s, "Name")?.ok_or("a PropertyRef has no Name")?;
                    if let Some(t) = current.as_ref().and_then(|c| types.get_mut(c)) {
                        t.keys.push(name);
                    }
                }
                b"Property" => {
                    let name = attr(s, "Name")?.ok_or("a Property has no Name")?;
                    let ty = attr(s, "Type")?;
                    if let Some(t) = current.as_ref().and_then(|c| types.get_mut(c)) {
                        if let Some(ty) = ty {
                            t.types.insert(name.clone(), ty);
                        }
                        t.properties.insert(name);
                    }
                }
                b"EntitySet" => {
                    let name = attr(s, "Name")?.ok_or("an EntitySet has no Name")?;
                    let ty = attr(s, "EntityType")?
                        .ok_or_else(|| format!("EntitySet {name} has no EntityType"))?;
                    raw_sets.push((name, ty));
                }
                _ => {}
            }
        }
        if !saw_edmx {
            return Err("the reply is not a CSDL document (no edmx:Edmx element)".into());
        }
        let resolve = |ty: &str| -> String {
            match ty.rsplit_once('.') {
                Some((ns, name)) => match aliases.get(ns) {
                    Some(full) => format!("{full}.{name}"),
                    None => ty.to_string(),
                },
                None => ty.to_string(),
            }
        };
        let mut sets = BTreeMap::new();
        for (name, ty) in raw_sets {
            let mut keys = Vec::new();
            let mut properties = BTreeSet::new();
            let mut property_types = BTreeMap::new();
            let mut next = Some(resolve(&ty));
            for _ in 0..MAX_BASE_DEPTH {
                let Some(t) = next.take().and_then(|n| types.get(&n)) else {
                    break;
                };
                if keys.is_empty() {
                    keys = t.keys.clone();
                }
                properties.extend(t.properties.iter().cloned());
                for (p, ty) in &t.types {
                    property_types
                        .entry(p.clone())
                        .or_insert_with(|| ty.clone());
                }
                next = t.base.as_deref().map(resolve);
            }
            // A set whose type this document does not describe, or without a key, cannot be
            // addressed row by row: it is left out, so nothing reads or deletes from it.
            if !keys.is_empty() {
                sets.insert(
                    name,
                    SetInfo {
                        keys,
                        properties,
                        types: property_types,
                    },
                );
            }
        }
        Ok(Metadata { sets })
    }
}

fn attr(s: &BytesStart, name: &str) -> Result<Option<String>, String> {
    match s.try_get_attribute(name) {
        Ok(Some(a)) => a
            .unescape_value()
            .map(|v| Some(v.into_owned()))
            .map_err(|e| format!("attribute {name}: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("attribute {name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
<edmx:DataServices>
<Schema Namespace="Microsoft.Dynamics.DataEntities" Alias="mde" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="NoYes"><Member Name="No" Value="0"/><Member Name="Yes" Value="1"/></EnumType>
  <EntityType Name="DualWriteProjectConfiguration">
    <Key><PropertyRef Name="ProjectName"/></Key>
    <Property Name="ProjectName" Type="Edm.String" Nullable="false"/>
    <Property Name="ExternalEnvironmentUrl" Type="Edm.String"/>
    <!-- a comment <Property Name="Hidden"/> -->
  </EntityType>
  <EntityType Name="Derived" BaseType="mde.DualWriteProjectConfiguration">
    <Property Name="Extra" Type="Edm.String"/>
  </EntityType>
  <EntityType Name="NoKey"><Property Name="A" Type="Edm.String"/></EntityType>
  <EntityContainer Name="Container">
    <EntitySet Name="DualWriteProjectConfigurations" EntityType="Microsoft.Dynamics.DataEntities.DualWriteProjectConfiguration"/>
    <EntitySet Name="Deriveds" EntityType="mde.Derived"/>
    <EntitySet Name="NoKeys" EntityType="mde.NoKey"/>
    <EntitySet Name="Dangling" EntityType="mde.Missing"/>
  </EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"#;

    #[test]
    fn sets_keys_and_properties_are_read() {
        let m = Metadata::parse(DOC.as_bytes()).unwrap();
        let s = m.set("DualWriteProjectConfigurations").unwrap();
        assert_eq!(s.keys, ["ProjectName"]);
        assert!(s.properties.contains("ExternalEnvironmentUrl"));
        assert_eq!(s.types["ProjectName"], "Edm.String");
        assert!(!s.properties.contains("Hidden"));
        let d = m.set("Deriveds").unwrap();
        assert_eq!(d.keys, ["ProjectName"]);
        assert!(d.properties.contains("Extra") && d.properties.contains("ProjectName"));
        assert!(m.set("NoKeys").is_none() && m.set("Dangling").is_none());
        assert!(m.set("DualWriteProjectFieldConfigurations").is_none());
    }

    #[test]
    fn documents_that_are_not_csdl_are_errors() {
        for (doc, says) in [
            (&b"{\"value\":[]}"[..], "no edmx:Edmx"),
            (
                b"<edmx:Edmx><Schema><EntityType Name=\"a\"></Schema>",
                "not well-formed",
            ),
            (
                b"<edmx:Edmx><Schema><EntityType/></Schema></edmx:Edmx>",
                "no Name",
            ),
            (
                b"<edmx:Edmx><EntitySet Name=\"S\"/></edmx:Edmx>",
                "has no EntityType",
            ),
            (b"<edmx:Edmx Name=\"\xff\"/>", "not UTF-8"),
            (
                b"<edmx:Edmx><Property Name=\"&bogus;\"/></edmx:Edmx>",
                "attribute Name",
            ),
        ] {
            let e = Metadata::parse(doc).unwrap_err();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }
}
