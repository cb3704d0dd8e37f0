"""Optical flow, for flow-guided masks (MGMAE, ``masks.mgmae``): forward warping along flow
and the flow sources (OpenCV's DIS on the CPU in loader workers, torchvision's RAFT from a
local weights file)."""
