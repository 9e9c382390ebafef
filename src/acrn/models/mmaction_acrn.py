"""MMAction2's simplified ACRN relation head, next to the paper's (:class:`acrn.models.relation.ACRNHead`).

MMAction2's ``ACRNHead`` with its ``BBoxHeadAVA`` pooling, as trained in
``slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_ava21-rgb`` (and the ``ava22`` twin):

    actor crop  Tensor[R, C, s, s] --max over the crop--> a_i Tensor[R, C]
    scene map   Tensor[B, C, h, w] (the detector's F)
    [a_i tiled over h x w ; F of the actor's clip] --1x1 conv, BN, ReLU--> --1x3x3 conv, BN, ReLU--> relation map
    relation map Tensor[R, Cout, 1, h, w] --max over h x w--> features Tensor[R, Cout] --linear--> 81 logits

Against the paper's ACRN: no box coordinates or cell locations in the relation input, no L2 normalisation,
no separate f_a in the classifier input (only the pooled relation map), a (1, 3, 3) conv for f_phi instead
of Mixed_5b/5c, and max instead of average pooling. The classifier is :class:`acrn.models.action_head.Predictor`
without box regression; MMAction2's 81st logit (class 0, "background") is never trained
(``BBoxHeadAVA`` drops it from the loss and from the AVA results), so acrn keeps the 80 action rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from acrn.models.slowfast import ConvBN

MMACTION2_CONFIGS = {
    "ava21": "slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_ava21-rgb",
    "ava22": "slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_ava22-rgb",
}


class TiledACRNHead(nn.Module):
    """MMAction2's ACRN head (see the module docstring), with the head interface of
    :class:`acrn.models.action_head.ActorHead`.

    Args:
        in_channels: channels C of the crops and of the scene map (2304 for SlowFast-R50: 2048 + 256).
        out_channels: channels of the relation map (2304 in MMAction2's config).
        num_convs: number of (1, 3, 3) convs after the 1x1 fusion (1 in MMAction2's config).

    ``forward(crops: Tensor[R, C, s, s], boxes: Tensor[R, 4], batch_idx: Tensor[R], scene: [Tensor[B, C, h, w]])
    -> dict`` with ``features`` = ``f_rn`` ``Tensor[R, Cout]`` and ``relation_map`` ``Tensor[R, Cout, 1, h, w]``
    (the detector turns it into class heatmaps). ``boxes`` are not used by this variant.
    """

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 1, bn_eps: float = 1e-5) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"TiledACRNHead: num_convs must be >= 1, got {num_convs}")
        self.fuse = ConvBN(2 * in_channels, out_channels, (1, 1, 1), bn_eps=bn_eps)
        self.convs = nn.Sequential(*[ConvBN(out_channels, out_channels, (1, 3, 3), bn_eps=bn_eps)
                                     for _ in range(num_convs)])
        self.in_channels = in_channels
        self.relation_channels = self.out_channels = out_channels
        self.factorized = True  # False: MMAction2's literal tiling (kept as the reference, and for benchmarks)

    def relation_map(self, crops: Tensor, batch_idx: Tensor, scene: Tensor) -> Tensor:
        """``Tensor[R, C, s, s], Tensor[R], Tensor[B, C, h, w] -> Tensor[R, Cout, 1, h, w]``."""
        if not self.factorized:
            h, w = scene.shape[-2:]
            actor = crops.amax(dim=(2, 3))[:, :, None, None, None].expand(-1, -1, 1, h, w)  # tiled a_i
            return self.convs(self.fuse(torch.cat([actor, scene[batch_idx].unsqueeze(2)], 1)))  # [R, 2C, 1, h, w]
        # The 1x1 fusion conv of [a_i tiled; F] is W_a a_i + W_F F: the actor half is one vector per actor and
        # the scene half is computed once per clip, not once per actor on R copies of F (13.6 -> 1.4 GMAC for
        # 5 actors of SlowFast-R50 at 256 x 256). Same sum, other rounding order (float tolerance).
        conv, c = self.fuse.conv, crops.shape[1]
        weight = conv.weight[:, :, 0, 0, 0]  # [Cout, 2C]
        actor = crops.amax(dim=(2, 3)) @ weight[:, :c].t()  # [R, Cout]
        scene_part = torch.nn.functional.conv2d(scene, weight[:, c:, None, None], conv.bias)  # [B, Cout, h, w]
        x = self.fuse.bn((scene_part[batch_idx] + actor[:, :, None, None]).unsqueeze(2))  # [R, Cout, 1, h, w]
        return self.convs(self.fuse.relu(x))

    def forward(self, crops: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> dict:
        if crops.shape[0] == 0:
            f_rn = crops.new_zeros(0, self.out_channels)
            return {"features": f_rn, "f_rn": f_rn,
                    "relation_map": crops.new_zeros(0, self.out_channels, 1, *scene[0].shape[-2:])}
        rmap = self.relation_map(crops, batch_idx, scene[0])
        # BBoxHeadAVA: average over time (t = 1 here), max over space.
        f_rn = rmap.mean(2).amax(dim=(2, 3))
        return {"features": f_rn, "f_rn": f_rn, "relation_map": rmap}
