"""Safety, as the Sora report plans it (notebook 13): C2PA provenance on every file the kit
writes, a detection classifier that tells generated clips from world clips, and a usage policy
that every prompt passes before sampling. It knows the world, the models and the diffusion core,
never the pipeline, training, evaluation or the commands.

- `provenance`: sign and verify C2PA manifests (embedded in .mp4/.png, sidecars for .gif/.npy)
- `policy`: the prompt policy of `data/policy.json`, its normalization, refusals, frame review
- `detector`: the detection classifier (per clip and per frame) and `detect`
"""
from soralite.safety.detector import Detector, detect, detect_files
from soralite.safety.policy import NO_POLICY_NOTE, Policy, PolicyRefusal, Refusal, default_policy, normalize
from soralite.safety.provenance import (NO_PROVENANCE_NOTE, SOURCE_TYPE, Credentials, Generation,
                                        credentials_dir, default_credentials, local_credentials,
                                        save_signed, sidecar_path, sign, verify)

__all__ = ["Detector", "detect", "detect_files", "NO_POLICY_NOTE", "Policy", "PolicyRefusal",
           "Refusal", "default_policy", "normalize", "NO_PROVENANCE_NOTE", "SOURCE_TYPE",
           "Credentials", "Generation", "credentials_dir", "default_credentials",
           "local_credentials", "save_signed", "sidecar_path", "sign", "verify"]
