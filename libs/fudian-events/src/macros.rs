//! `event_enum!`: declares one exchange's event enum from a single list of
//! (variant, payload, routing key const, type, version, direction), so the routing key
//! consts, the enum, its `Event` impl and its catalog cannot disagree.

/// Declares the routing key consts, the enum and its `Event` impl for one exchange.
///
/// ```text
/// event_enum! {
///     /// Doc of the enum.
///     pub enum FieldEvent on FIELD_EXCHANGE {
///         /// Doc of the variant (becomes the AsyncAPI message summary).
///         ScadaSwitchOpened(ScadaSwitchOpened): SCADA_SWITCH_OPENED = "scada.switch.opened",
///             version 1, Receive;
///     }
/// }
/// ```
macro_rules! event_enum {
    (
        $(#[$enum_meta:meta])*
        pub enum $enum_name:ident on $exchange:path {
            $(
                $(#[doc = $doc:literal])*
                $variant:ident($payload:ty): $key_const:ident = $event_type:literal,
                    version $version:literal, $direction:ident;
            )+
        }
    ) => {
        $(
            #[doc = concat!("Routing key and `type` of [`", stringify!($enum_name), "::",
                stringify!($variant), "`]: `", $event_type, "`.")]
            pub const $key_const: &str = $event_type;
        )+

        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $enum_name {
            $(
                $(#[doc = $doc])*
                $variant($payload),
            )+
        }

        impl $crate::Event for $enum_name {
            const EXCHANGE: &'static str = $exchange;
            const CATALOG: &'static [$crate::EventSpec] = &[
                $(
                    $crate::EventSpec {
                        event_type: $key_const,
                        version: $version,
                        exchange: $exchange,
                        direction: $crate::Direction::$direction,
                        doc: concat!($($doc, "\n"),*),
                        payload_schema: $crate::envelope::schema_of::<$payload>,
                    },
                )+
            ];

            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $key_const,)+
                }
            }

            fn version(&self) -> u32 {
                match self {
                    $(Self::$variant(_) => $version,)+
                }
            }

            fn serialize_payload<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match self {
                    $(Self::$variant(payload) => serde::Serialize::serialize(payload, serializer),)+
                }
            }

            fn deserialize_payload(
                event_type: &str,
                version: u32,
                payload: serde_json::Value,
            ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>> {
                $(
                    if event_type == $key_const && version == $version {
                        return Some(serde_path_to_error::deserialize(payload).map(Self::$variant));
                    }
                )+
                None
            }
        }

        /// Decodes a body as an event of this exchange; see [`crate::decode`].
        pub fn decode(
            body: &[u8],
        ) -> Result<$crate::Envelope<$enum_name>, $crate::DecodeError> {
            $crate::decode::<$enum_name>(body)
        }
    };
}
