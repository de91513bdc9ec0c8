//! G.711 (PCMU μ-law and PCMA A-law): the codecs every SIP trunk offers.
//!
//! The tables come from the `audio-codec` crate. Its tables match the classic Sun
//! Microsystems `g711.c` everywhere (checked over all 65 536 samples and 256 codes in the
//! tests below) except one spot, corrected here: see [`Codec::encode`].

use audio_codec::pcma::{PcmaDecoder, PcmaEncoder};
use audio_codec::pcmu::{PcmuDecoder, PcmuEncoder};
use audio_codec::{Decoder, Encoder};

/// A-law code for the smallest negative step (decodes to -8).
const ALAW_SMALLEST_NEGATIVE: u8 = 0x55;

/// A G.711 law, named as in SDP `rtpmap` lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, used in North America and Japan.
    Pcmu,
    /// A-law, used in Europe and most of the rest of the world.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in SDP `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for a static RTP payload type, if it is G.711.
    pub fn from_payload_type(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The codec for an SDP encoding name (case-insensitive, as SDP requires).
    pub fn from_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma].into_iter().find(|codec| codec.name().eq_ignore_ascii_case(name))
    }

    /// Appends one code byte per sample of `pcm` to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + pcm.len(), 0);
        let target = &mut out[start..];
        // The only possible error is a short buffer, which the resize rules out; on one,
        // leave `out` as it was rather than half-written.
        let written = match self {
            Codec::Pcmu => PcmuEncoder::new().encode_into(pcm, target),
            Codec::Pcma => PcmaEncoder::new().encode_into(pcm, target),
        };
        if written != Ok(pcm.len()) {
            out.truncate(start);
            return;
        }
        if self == Codec::Pcma {
            // The crate encodes -8..=-1 as +8 (0xD5), flipping the sign of the quietest
            // negative samples. Sun's g711.c maps them to the smallest negative step once
            // its well-known underflow (-pcm - 8 < 0) is clamped, as PJSIP and WebRTC do.
            for (code, &sample) in target.iter_mut().zip(pcm) {
                if (-8..0).contains(&sample) {
                    *code = ALAW_SMALLEST_NEGATIVE;
                }
            }
        }
    }

    /// Appends one sample per code byte of `bytes` to `out`.
    pub fn decode(self, bytes: &[u8], out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + bytes.len(), 0);
        let target = &mut out[start..];
        let written = match self {
            Codec::Pcmu => PcmuDecoder::new().decode_into(bytes, target),
            Codec::Pcma => PcmaDecoder::new().decode_into(bytes, target),
        };
        if written != Ok(bytes.len()) {
            out.truncate(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic Sun Microsystems g711.c, transcribed independently of the crate so the
    /// tests compare two implementations rather than one with itself.
    mod sun {
        const BIAS: i32 = 0x84;
        const SEG_END: [i32; 8] = [0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF];

        fn search(value: i32) -> i32 {
            SEG_END.iter().position(|&end| value <= end).map_or(8, |segment| segment as i32)
        }

        pub fn linear2ulaw(sample: i16) -> u8 {
            let mut pcm = i32::from(sample);
            let mask = if pcm < 0 {
                pcm = BIAS - pcm;
                0x7F
            } else {
                pcm += BIAS;
                0xFF
            };
            let segment = search(pcm);
            if segment >= 8 {
                return (0x7F ^ mask) as u8;
            }
            let code = (segment << 4) | ((pcm >> (segment + 3)) & 0xF);
            (code ^ mask) as u8
        }

        pub fn ulaw2linear(code: u8) -> i16 {
            let code = i32::from(!code);
            let mut t = ((code & 0x0F) << 3) + BIAS;
            t <<= (code & 0x70) >> 4;
            (if code & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
        }

        /// With the customary fix (PJSIP ticket 1301): the original computes
        /// `-pcm - 8`, negative for -7..=-1, and encodes those as -248.
        pub fn linear2alaw(sample: i16) -> u8 {
            let mut pcm = i32::from(sample);
            let mask = if pcm >= 0 {
                0xD5
            } else {
                pcm = (-pcm - 8).max(0);
                0x55
            };
            let segment = search(pcm);
            if segment >= 8 {
                return (0x7F ^ mask) as u8;
            }
            let shift = if segment < 2 { 4 } else { segment + 3 };
            let code = (segment << 4) | ((pcm >> shift) & 0x0F);
            (code ^ mask) as u8
        }

        pub fn alaw2linear(code: u8) -> i16 {
            let code = i32::from(code ^ 0x55);
            let mut t = (code & 0x0F) << 4;
            let segment = (code & 0x70) >> 4;
            match segment {
                0 => t += 8,
                1 => t += 0x108,
                _ => {
                    t += 0x108;
                    t <<= segment - 1;
                }
            }
            (if code & 0x80 != 0 { t } else { -t }) as i16
        }
    }

    fn all_samples() -> Vec<i16> {
        (i16::MIN..=i16::MAX).collect()
    }

    fn all_codes() -> Vec<u8> {
        (0..=u8::MAX).collect()
    }

    fn encoded(codec: Codec, pcm: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        codec.encode(pcm, &mut out);
        out
    }

    fn decoded(codec: Codec, bytes: &[u8]) -> Vec<i16> {
        let mut out = Vec::new();
        codec.decode(bytes, &mut out);
        out
    }

    /// The first input whose output differs from the reference's, for a readable failure.
    fn first_mismatch<I: Copy, O: PartialEq>(inputs: &[I], outputs: &[O], reference: impl Fn(I) -> O) -> Option<I> {
        assert_eq!(inputs.len(), outputs.len());
        inputs.iter().zip(outputs).find(|&(&input, output)| *output != reference(input)).map(|(&input, _)| input)
    }

    #[test]
    fn pcmu_encoding_matches_sun_reference_for_every_sample() {
        let samples = all_samples();
        let codes = encoded(Codec::Pcmu, &samples);
        let mismatch = first_mismatch(&samples, &codes, sun::linear2ulaw);
        assert_eq!(mismatch, None);
    }

    #[test]
    fn pcma_encoding_matches_sun_reference_for_every_sample() {
        let samples = all_samples();
        let codes = encoded(Codec::Pcma, &samples);
        let mismatch = first_mismatch(&samples, &codes, sun::linear2alaw);
        assert_eq!(mismatch, None);
    }

    #[test]
    fn pcmu_decoding_matches_sun_reference_for_every_code() {
        let codes = all_codes();
        let samples = decoded(Codec::Pcmu, &codes);
        let mismatch = first_mismatch(&codes, &samples, sun::ulaw2linear);
        assert_eq!(mismatch, None);
    }

    #[test]
    fn pcma_decoding_matches_sun_reference_for_every_code() {
        let codes = all_codes();
        let samples = decoded(Codec::Pcma, &codes);
        let mismatch = first_mismatch(&codes, &samples, sun::alaw2linear);
        assert_eq!(mismatch, None);
    }

    #[test]
    fn well_known_code_points() {
        // μ-law: zero is 0xFF (all bits inverted), the rails are 0x80 and 0x00.
        assert_eq!(encoded(Codec::Pcmu, &[0, -1, 32767, -32768]), [0xFF, 0x7F, 0x80, 0x00]);
        assert_eq!(decoded(Codec::Pcmu, &[0xFF, 0x7F, 0x80, 0x00]), [0, 0, 32124, -32124]);
        // A-law: zero is 0xD5 (even bits inverted); the rails are 0xAA and 0x2A.
        assert_eq!(encoded(Codec::Pcma, &[0, -1, 32767, -32768]), [0xD5, 0x55, 0xAA, 0x2A]);
        assert_eq!(decoded(Codec::Pcma, &[0xD5, 0x55, 0xAA, 0x2A]), [8, -8, 32256, -32256]);
    }

    #[test]
    fn pcma_keeps_the_sign_of_the_quietest_negative_samples() {
        let codes = encoded(Codec::Pcma, &[-8, -7, -1]);
        assert_eq!(decoded(Codec::Pcma, &codes), [-8, -8, -8]);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        // Decoded values sit at the centre of their quantisation step, so re-encoding them
        // must give back the code (up to μ-law's two zeros, 0x7F and 0xFF).
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let codes = all_codes();
            let again = encoded(codec, &decoded(codec, &codes));
            for (&code, &back) in codes.iter().zip(&again) {
                let negative_zero = codec == Codec::Pcmu && code == 0x7F && back == 0xFF;
                assert!(back == code || negative_zero, "{codec:?}: {code:#04x} -> {back:#04x}");
            }
        }
    }

    #[test]
    fn quantisation_error_stays_within_g711_precision() {
        // G.711 keeps about 12 bits of relative precision: the error is at most 1/32 of the
        // magnitude plus the smallest step.
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let samples = all_samples();
            let round_trip = decoded(codec, &encoded(codec, &samples));
            for (&sample, &back) in samples.iter().zip(&round_trip) {
                let error = (i32::from(sample) - i32::from(back)).abs();
                let allowed = i32::from(sample).abs() / 32 + 16;
                assert!(error <= allowed, "{codec:?}: {sample} -> {back}");
            }
        }
    }

    #[test]
    fn encode_and_decode_append_to_the_buffer() {
        let mut bytes = vec![0xAB];
        Codec::Pcmu.encode(&[0, 0], &mut bytes);
        assert_eq!(bytes, [0xAB, 0xFF, 0xFF]);
        let mut samples = vec![7];
        Codec::Pcma.decode(&[0xD5], &mut samples);
        assert_eq!(samples, [7, 8]);
    }

    #[test]
    fn payload_types_and_names_round_trip() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
            assert_eq!(Codec::from_name(&codec.name().to_lowercase()), Some(codec));
        }
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(101), None);
        assert_eq!(Codec::from_name("G722"), None);
    }
}
