"""``whisper``: the encoder of a ``transformers`` Whisper model with a CTC head, on variable-length audio.

Whisper's own ``WhisperEncoder.forward`` insists on 30 s of log-mel (3000 frames). This
module runs the same submodules (``conv1``, ``conv2``, ``embed_positions``, ``layers``,
``layer_norm``) on the actual length instead: the first ``T'`` rows of the position
table are added, and padded frames are masked out of self-attention, so a 3 s
utterance costs 3 s of compute. Inputs are limited to ``max_source_positions`` output
frames (30 s for the released checkpoints); longer audio must be chunked by the caller
(:attr:`max_input_length` says how long in samples).

The log-mel spectrogram is computed inside the network, in float32, exactly as
``WhisperFeatureExtractor`` does (25 ms Hann window, 10 ms hop, Slaney mel filters,
``log10`` floored at 8 below the utterance's maximum, then ``(x + 4) / 4``), with the
utterance's maximum taken over its own frames and the audio zero-padded as
Whisper pads it to 30 s.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from asr.errors import AsrError
from asr.models.base import CtcHead, CtcModel, padding_mask
from asr.models.config import PretrainedConfig
from asr.models.hf import Trainability, check_init_dir, config_from_dict, config_to_dict

N_FFT = 400
HOP_LENGTH = 160
SAMPLE_RATE = 16000
#: A small encoder for ``init: null`` (about 3 M encoder parameters); ``hf_config`` keys override it.
SMALL_CONFIG: dict[str, Any] = {
    "d_model": 256,
    "encoder_layers": 4,
    "encoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "decoder_layers": 1,
    "decoder_attention_heads": 4,
    "decoder_ffn_dim": 256,
    "num_mel_bins": 80,
}


def power_spectrum(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``(B, S)`` samples -> ``(B, N_FFT // 2 + 1, S // 160 + 1)`` STFT power (centred, reflect-padded frames)."""
    return torch.stft(x, N_FFT, HOP_LENGTH, window=window, return_complex=True).abs() ** 2


def mel_frames(lengths: torch.Tensor) -> torch.Tensor:
    """Log-mel frames Whisper computes for ``lengths`` samples: ``S // 160`` (the last STFT frame is dropped)."""
    return lengths // HOP_LENGTH


def whisper_output_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Encoder frames for ``lengths`` samples: ``conv2`` (kernel 3, stride 2, padding 1) maps ``M`` mel frames to ``(M - 1) // 2 + 1``."""
    m = mel_frames(lengths)
    return torch.where(m > 0, (m - 1) // 2 + 1, torch.zeros_like(m))


class WhisperCtc(CtcModel):
    """Waveforms ``(B, S)`` at 16 kHz -> CTC log-probabilities ``(B, T', V)``, one frame per 20 ms."""

    config_section = "whisper"

    input_kind = "waveform"
    stride = 2 * HOP_LENGTH

    def __init__(self, config: PretrainedConfig, vocab_size: int, hf_config: dict | None = None):
        super().__init__(vocab_size, None)
        from transformers import WhisperFeatureExtractor

        self.config = config
        self.encoder = load_encoder(config, hf_config)
        hf = self.encoder.config
        self.max_input_length = 2 * hf.max_source_positions * HOP_LENGTH
        extractor = WhisperFeatureExtractor(feature_size=hf.num_mel_bins, sampling_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=N_FFT)
        self.register_buffer("mel_filters", torch.tensor(extractor.mel_filters, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        front_end = torch.nn.ModuleList([self.encoder.conv1, self.encoder.conv2])
        self.trainability = Trainability(
            config, self.encoder, front_end, self.encoder.layers, [self.encoder.layer_norm],
            fixed=[self.encoder.embed_positions.weight],  # Whisper never trains its sinusoidal positions
        )
        self.head = CtcHead(hf.d_model, vocab_size, config.head_dropout)


    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return whisper_output_lengths(lengths).long()

    def hf_config(self) -> dict:
        return config_to_dict(self.encoder.config)

    def set_train_step(self, step: int) -> bool:
        return self.trainability.at_step(step)

    def log_mel(self, waveforms: torch.Tensor, lengths: torch.Tensor, extra: int = 0,
                spectrum=power_spectrum) -> torch.Tensor:
        """``(B, S)`` samples -> ``(B, num_mel_bins, S // 160 + extra)`` Whisper log-mel, float32.

        The ``extra`` frames past the end are those of Whisper's zero padding. ``spectrum``
        computes the power spectrum (:func:`power_spectrum`; the ONNX export passes one
        that avoids complex tensors).
        """
        with torch.autocast(waveforms.device.type, enabled=False):
            x = waveforms.float() * (~padding_mask(lengths, waveforms.shape[1]))
            frames = waveforms.shape[1] // HOP_LENGTH + extra
            x = F.pad(x, (0, N_FFT + extra * HOP_LENGTH))  # zeros past the end, as in Whisper's 30 s padding
            power = spectrum(x, self.window)[..., :frames]
            log_spec = torch.clamp(self.mel_filters.T @ power, min=1e-10).log10()
            valid = ~padding_mask(mel_frames(lengths), frames)[:, None, :]
            peak = log_spec.masked_fill(~valid, float("-inf")).amax(dim=(1, 2), keepdim=True)
            peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
            return (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.shape[1] > self.max_input_length + HOP_LENGTH - 1:
            raise AsrError(
                f"whisper encoder takes at most {self.max_input_length / SAMPLE_RATE:.0f} s of audio, "
                f"got {inputs.shape[1] / SAMPLE_RATE:.1f} s: split it into chunks"
            )
        if inputs.shape[1] < N_FFT:
            inputs = F.pad(inputs, (0, N_FFT - inputs.shape[1]))
        # Two mel frames past the end feed the last output frame's receptive field as
        # Whisper's 30 s padding would, so an utterance gives the same output alone or batched.
        mel = self.log_mel(inputs, lengths, extra=2)
        out_lengths = self.output_lengths(lengths)
        return self.encode(mel, out_lengths, max(int(out_lengths.max()), 1)), out_lengths

    def encode(self, mel: torch.Tensor, out_lengths: torch.Tensor, frames: int) -> torch.Tensor:
        """Log-mel ``(B, num_mel_bins, M)`` -> CTC log-probabilities ``(B, frames, V)``.

        ``frames``: output frames kept (the longest of ``out_lengths``; the convolutions
        give ``(M - 1) // 2 + 1``, one more when ``M`` includes the 2 padding frames).
        """
        enc = self.encoder
        mel = mel.to(enc.conv1.weight.dtype)
        x = F.gelu(enc.conv2(F.gelu(enc.conv1(mel)))).transpose(1, 2)  # (B, (M - 1) // 2 + 1, d_model)
        x = x[:, :frames]
        x = x + enc.embed_positions.weight[: x.shape[1]].to(x.dtype)
        x = F.dropout(x, p=enc.dropout, training=self.training)
        mask = self._attention_mask(out_lengths, x.shape[1])
        for layer in enc.layers:
            if self.training and enc.layerdrop > 0 and torch.rand([]) < enc.layerdrop:
                continue
            x = layer(x, mask)
        return self.head(enc.layer_norm(x))

    def _attention_mask(self, lengths: torch.Tensor, length: int) -> torch.Tensor:
        """Keys past each length masked: bool (True = attend) for SDPA, additive float for eager."""
        keep = ~padding_mask(lengths.clamp(min=1), length)[:, None, None, :]  # (B, 1, 1, T')
        if self.encoder.config._attn_implementation == "sdpa":
            return keep
        return torch.zeros(keep.shape, device=keep.device).masked_fill(~keep, torch.finfo(torch.float32).min)


def load_encoder(config: PretrainedConfig, hf_config: dict | None):
    """The Whisper encoder: rebuilt from a saved config, loaded from ``init``, or built small."""
    from transformers import WhisperConfig, WhisperModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    if hf_config is not None:
        hf = config_from_dict(hf_config)
        if hf.model_type != "whisper":
            raise AsrError(f"hf_config.json: expected a whisper config, got {hf.model_type!r}")
        return WhisperEncoder(hf)
    if config.init:
        path = check_init_dir(config.init, "whisper")
        try:
            model = WhisperModel.from_pretrained(path, local_files_only=True, dtype=torch.float32, **config.hf_config)
        except (OSError, ValueError, TypeError) as e:
            raise AsrError(f"whisper.init: cannot load {path} as a Whisper model ({e})") from e
        encoder = model.get_encoder()
        del model
        return encoder.float()
    return WhisperEncoder(WhisperConfig(**{**SMALL_CONFIG, **config.hf_config}))
