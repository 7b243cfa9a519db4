"""Quality flags of the archives we read, and the reasons a star is quarantined.

Kepler ``SAP_QUALITY`` bits follow Table 2-3 of the Kepler Archive Manual (KDMC-10008-006), as
used by lightkurve; see ``docs/SCIENCE.md`` section 5.1. TESS SPOC files reuse most bit values in
their ``QUALITY`` column, so the same default mask is applied to them.
"""

from __future__ import annotations

from enum import IntFlag


class KeplerQuality(IntFlag):
    """Kepler ``SAP_QUALITY`` bits (Kepler Archive Manual, Table 2-3)."""

    ATTITUDE_TWEAK = 1
    SAFE_MODE = 2
    COARSE_POINT = 4
    EARTH_POINT = 8
    ZERO_CROSSING = 16
    DESATURATION = 32
    ARGABRIGHTENING = 64
    APERTURE_COSMIC = 128
    MANUAL_EXCLUDE = 256
    # 512 is unused in the Kepler manual.
    SENSITIVITY_DROPOUT = 1024
    IMPULSIVE_OUTLIER = 2048
    ARGABRIGHTENING_CCD = 4096
    COLLATERAL_COSMIC = 8192
    DETECTOR_ANOMALY = 16384
    NO_FINE_POINT = 32768
    NO_DATA = 65536
    ROLLING_BAND_APERTURE = 131072
    ROLLING_BAND_MASK = 262144
    POSSIBLE_THRUSTER_FIRING = 524288
    THRUSTER_FIRING = 1048576


#: lightkurve's "default" mask: 1|2|4|8|32|256|16384|65536|1048576 (it also covers NaN-TIME rows).
DEFAULT_BITMASK: int = int(
    KeplerQuality.ATTITUDE_TWEAK
    | KeplerQuality.SAFE_MODE
    | KeplerQuality.COARSE_POINT
    | KeplerQuality.EARTH_POINT
    | KeplerQuality.DESATURATION
    | KeplerQuality.MANUAL_EXCLUDE
    | KeplerQuality.DETECTOR_ANOMALY
    | KeplerQuality.NO_DATA
    | KeplerQuality.THRUSTER_FIRING
)

#: lightkurve's "hard" mask: the default plus cosmic rays, dropouts and possible thruster firings.
HARD_BITMASK: int = DEFAULT_BITMASK | int(
    KeplerQuality.SENSITIVITY_DROPOUT
    | KeplerQuality.APERTURE_COSMIC
    | KeplerQuality.COLLATERAL_COSMIC
    | KeplerQuality.POSSIBLE_THRUSTER_FIRING
)

#: Readers log a warning when more than this fraction of cadences is masked (as lightkurve does).
MASKED_WARNING_FRACTION = 0.2

# Quarantine reasons (the ``reason`` column starts with one of these; details may follow).
REASON_UNREADABLE = "unreadable file"
REASON_MISSING_FIELD = "missing HDU, column or keyword"
REASON_NO_LIGHTCURVE = "no light curve for this star"
REASON_NO_SPECTRUM = "no spectrum for this star"
REASON_DUPLICATE = "duplicate identifier"
REASON_TOO_FEW_VALID = "too few valid samples"
REASON_BAD_GAIA = "bad Gaia row"
REASON_UNMATCHED_FILE = "file matches no Gaia row"
REASON_BAD_VALUES = "bad values"
#: A FITS file that reads but that no registered reader accepts (a target pixel file, a
#: repackaged series): named so that nothing in the raw folder is skipped without a word.
REASON_UNRECOGNISED = "not a recognised product"

QUARANTINE_REASONS = (
    REASON_UNREADABLE,
    REASON_MISSING_FIELD,
    REASON_NO_LIGHTCURVE,
    REASON_NO_SPECTRUM,
    REASON_DUPLICATE,
    REASON_TOO_FEW_VALID,
    REASON_BAD_GAIA,
    REASON_UNMATCHED_FILE,
    REASON_BAD_VALUES,
    REASON_UNRECOGNISED,
)
