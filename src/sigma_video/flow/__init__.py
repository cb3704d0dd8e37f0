"""Optical flow for motion-guided masking (MGMAE): forward warping along flow, the flow
sources (OpenCV's DIS on the CPU in loader workers, torchvision's RAFT from a local weights
file), and the mask that keeps visible the tubes a propagated visibility map reaches."""
