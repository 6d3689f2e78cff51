//! Strong links: values that identify one network wherever they appear.

use breakwater_core::{Entity, EntityKind, Signal, SignalKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The kinds of value that tie two posts to one network: a contact, a wallet or an image.
/// Prices, places and routes are shared by unrelated adverts and are not links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// E.164, `+447911123456`.
    Phone,
    /// `platform:name`, `telegram:boza_vip`.
    Handle,
    Url,
    Email,
    /// A crypto wallet, `tron:T…`.
    Wallet,
    Md5,
    Sha256,
    /// A PDQ image hash, 64 hex digits; links only when equal.
    Pdq,
}

impl LinkKind {
    pub const ALL: [LinkKind; 8] = [
        LinkKind::Phone,
        LinkKind::Handle,
        LinkKind::Url,
        LinkKind::Email,
        LinkKind::Wallet,
        LinkKind::Md5,
        LinkKind::Sha256,
        LinkKind::Pdq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Phone => "phone",
            LinkKind::Handle => "handle",
            LinkKind::Url => "url",
            LinkKind::Email => "email",
            LinkKind::Wallet => "wallet",
            LinkKind::Md5 => "md5",
            LinkKind::Sha256 => "sha256",
            LinkKind::Pdq => "pdq",
        }
    }

    /// The link kind of an entity kind, if entities of that kind link posts.
    pub fn of_entity(kind: EntityKind) -> Option<LinkKind> {
        match kind {
            EntityKind::Phone => Some(LinkKind::Phone),
            EntityKind::Handle => Some(LinkKind::Handle),
            EntityKind::Url => Some(LinkKind::Url),
            EntityKind::Email => Some(LinkKind::Email),
            EntityKind::CryptoWallet => Some(LinkKind::Wallet),
            EntityKind::Price | EntityKind::Place | EntityKind::Route => None,
        }
    }
}

/// Why a string is not a link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "unknown link kind `{0}` (expected phone, handle, url, email, wallet, md5, sha256 or pdq)"
    )]
    UnknownKind(String),
    #[error("link `{0}` must be `kind:value`")]
    MissingKind(String),
    #[error("{0} link has an empty value")]
    EmptyValue(&'static str),
}

impl FromStr for LinkKind {
    type Err = LinkError;
    fn from_str(s: &str) -> Result<Self, LinkError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("crypto_wallet") {
            return Ok(LinkKind::Wallet);
        }
        LinkKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| LinkError::UnknownKind(s.to_string()))
    }
}

/// A link value in the form the entity extractor or a signal bank gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    pub kind: LinkKind,
    pub value: String,
}

impl Link {
    /// A link, in the canonical form of signals where there is one (E.164 phones,
    /// lower-case handles, hosts and hashes), so that one contact is one link whoever typed
    /// it; a value that is not a valid signal is kept as given.
    pub fn new(kind: LinkKind, value: &str) -> Result<Link, LinkError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(LinkError::EmptyValue(kind.as_str()));
        }
        let signal = match kind {
            LinkKind::Phone => Some(SignalKind::Phone),
            LinkKind::Handle => Some(SignalKind::Handle),
            LinkKind::Url => Some(SignalKind::Url),
            LinkKind::Md5 => Some(SignalKind::Md5),
            LinkKind::Sha256 => Some(SignalKind::Sha256),
            LinkKind::Pdq => Some(SignalKind::Pdq),
            LinkKind::Email | LinkKind::Wallet => None,
        };
        let value = match (signal.map(|k| Signal::parse(k, value)), kind) {
            (Some(Ok(signal)), _) => signal.value,
            (_, LinkKind::Email | LinkKind::Md5 | LinkKind::Sha256 | LinkKind::Pdq) => {
                value.to_lowercase()
            }
            _ => value.to_string(),
        };
        Ok(Link { kind, value })
    }

    /// The link an entity makes, if its kind links posts (phones, handles, URLs, e-mail
    /// addresses, wallets). A phone number written like a date (`10/10/2026`) is left out:
    /// read as a local number it would tie together every post of that day.
    pub fn from_entity(entity: &Entity) -> Option<Link> {
        if entity.kind == EntityKind::Phone && breakwater_core::reads_as_date(&entity.text) {
            return None;
        }
        Link::new(LinkKind::of_entity(entity.kind)?, &entity.value).ok()
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

impl FromStr for Link {
    type Err = LinkError;
    /// Reads `phone:+447911123456`, `handle:telegram:boza_vip`, `pdq:…`.
    fn from_str(s: &str) -> Result<Self, LinkError> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| LinkError::MissingKind(s.to_string()))?;
        Link::new(kind.parse()?, value)
    }
}

impl Serialize for Link {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Link {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakwater_core::Span;

    #[test]
    fn reads_and_writes_kind_value() {
        let link: Link = "handle:telegram:boza_vip".parse().unwrap();
        assert_eq!(link.kind, LinkKind::Handle);
        assert_eq!(link.value, "telegram:boza_vip");
        assert_eq!(link.to_string(), "handle:telegram:boza_vip");
        let md5: Link = "MD5:ABCDEF".parse().unwrap();
        assert_eq!(md5.to_string(), "md5:abcdef");
        let url: Link = "url:HTTPS://T.ME/boza".parse().unwrap();
        assert_eq!(url.to_string(), "url:https://t.me/boza");
        let phone: Link = "phone:+44 7911 123456".parse().unwrap();
        assert_eq!(phone.to_string(), "phone:+447911123456");
        assert_eq!(
            "price:1500 GBP".parse::<Link>().unwrap_err().to_string(),
            "unknown link kind `price` (expected phone, handle, url, email, wallet, md5, sha256 or pdq)"
        );
        assert!("phone:".parse::<Link>().is_err());
        assert!("nokind".parse::<Link>().is_err());
    }

    #[test]
    fn only_identifying_entities_link() {
        let span = Span { start: 0, end: 1 };
        let phone = Entity::new(EntityKind::Phone, "+447911123456", "x", span);
        let price = Entity::new(EntityKind::Price, "1500 GBP", "x", span);
        assert_eq!(
            Link::from_entity(&phone).unwrap().to_string(),
            "phone:+447911123456"
        );
        assert_eq!(Link::from_entity(&price), None);
        let date = Entity::new(EntityKind::Phone, "+21610102026", "10/10/2026", span);
        assert_eq!(Link::from_entity(&date), None);
        for text in ["1.5.26", "2026-03-12", "12/03"] {
            assert!(breakwater_core::reads_as_date(text), "{text}");
        }
        for text in [
            "07.911.123",
            "+216-627-319-467",
            "0791 112 345",
            "45/13/2026",
        ] {
            assert!(!breakwater_core::reads_as_date(text), "{text}");
        }
    }
}
