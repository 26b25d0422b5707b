"""The PNG Info tab: tab.py reads the infotext of a dropped picture and sends it on."""
