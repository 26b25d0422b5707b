"""DeepFaceLab's workflow: workspace, frames, faceset extract/sort/pack, train, merge.

One module per step; the command line (``launch.py faceset|train-face|merge``), the Faces tab and
the swap methods all call these functions. Nothing here imports a web framework.
"""
