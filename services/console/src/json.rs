//! An event as JSON, for SSE and `gantry events watch --output json`: the
//! stream position and scope beside the envelope, which is the canonical
//! protobuf JSON of `gantry.events.v1.Envelope` (field names as in the
//! `.proto` files, enums by name, times in RFC 3339) — every field of the
//! typed payload, from the same descriptors the gRPC reflection serves.

use gantry_proto::events::{Envelope, WatchResponse};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use std::sync::LazyLock;

/// The envelope's descriptor, from the descriptor set built with the code.
static ENVELOPE: LazyLock<MessageDescriptor> = LazyLock::new(|| {
    DescriptorPool::decode(gantry_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set built with the code decodes")
        .get_message_by_name("gantry.events.v1.Envelope")
        .expect("the descriptor set holds the envelope")
});

/// Returns the canonical protobuf JSON of an envelope.
pub(crate) fn envelope_json(envelope: &Envelope) -> serde_json::Value {
    let options = SerializeOptions::new().use_proto_field_name(true).stringify_64_bit_integers(false);
    DynamicMessage::decode(ENVELOPE.clone(), envelope.encode_to_vec().as_slice())
        .ok()
        .and_then(|message| message.serialize_with_options(serde_json::value::Serializer, &options).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Returns one event as JSON: `sequence`, `subject`, `environment`,
/// `tenant` and the `envelope`.
pub fn event_json(event: &WatchResponse) -> serde_json::Value {
    serde_json::json!({
        "sequence": event.sequence,
        "subject": event.subject,
        "environment": event.environment,
        "tenant": event.tenant,
        "envelope": event.envelope.as_ref().map_or(serde_json::Value::Null, envelope_json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::RequestRejected;
    use gantry_proto::events::envelope::Payload;

    #[test]
    fn the_envelope_is_canonical_protobuf_json_with_its_payload() {
        let envelope = Envelope {
            event_id: "0193".into(),
            event_type: "intake.request_rejected.v1".into(),
            aggregate_type: "request".into(),
            aggregate_id: "r1".into(),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
            payload: Some(Payload::RequestRejected(RequestRejected { reason: "too big".into() })),
            ..Default::default()
        };
        let event = WatchResponse {
            sequence: 7,
            subject: "gantry.request.r1".into(),
            envelope: Some(envelope),
            ..Default::default()
        };
        let json = event_json(&event);
        assert_eq!(json["sequence"], 7);
        assert_eq!(json["envelope"]["event_type"], "intake.request_rejected.v1");
        assert_eq!(json["envelope"]["occurred_at"], "2027-01-15T08:00:00Z");
        assert_eq!(json["envelope"]["request_rejected"]["reason"], "too big");
    }
}
