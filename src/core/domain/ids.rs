use super::ValidationError;
use uuid::Uuid;

/// A UUID v4 made from caller-supplied random bytes (core takes randomness as input).
pub fn new_uuid(random: [u8; 16]) -> Uuid {
    uuid::Builder::from_random_bytes(random).into_uuid()
}

macro_rules! id_type {
    ($name:ident, $field:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new(random: [u8; 16]) -> Self {
                Self(new_uuid(random))
            }

            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| ValidationError::InvalidId { field: $field })
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(UserId, "user id");
id_type!(SessionId, "session id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v4_uuids_that_round_trip() {
        let id = UserId::new([7; 16]);
        assert_eq!(id.as_uuid().get_version_num(), 4);
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!(SessionId::parse("../etc/passwd").is_err());
        assert!(SessionId::parse("").is_err());
    }
}
