use super::ValidationError;
use uuid::Uuid;

/// A UUID v4 made from caller-supplied random bytes (core takes randomness as input).
pub fn new_uuid(random: [u8; 16]) -> Uuid {
    uuid::Builder::from_random_bytes(random).into_uuid()
}

/// An id newtype: a UUID, held in its canonical (lower-case, hyphenated) text, since that is
/// how every id is stored, bound and compared. It reads as a `&str` wherever one is expected.
macro_rules! id_type {
    ($name:ident, $field:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(random: [u8; 16]) -> Self {
                Self(new_uuid(random).hyphenated().to_string())
            }

            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                Uuid::try_parse(raw)
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| ValidationError::InvalidId { field: $field })
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(UserId, "user id");
id_type!(SessionId, "session id");
id_type!(StreamId, "stream id");
id_type!(JobId, "job id");
id_type!(WorkspaceId, "workspace id");
id_type!(InvitationId, "invitation id");
id_type!(ApiKeyId, "api key id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v4_uuids_that_round_trip() {
        let id = UserId::new([7; 16]);
        assert_eq!(Uuid::try_parse(&id).unwrap().get_version_num(), 4);
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn an_id_is_held_in_its_canonical_text() {
        let id = JobId::parse("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(id.as_str(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!(SessionId::parse("../etc/passwd").is_err());
        assert!(SessionId::parse("").is_err());
    }
}
