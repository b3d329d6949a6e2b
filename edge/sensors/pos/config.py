"""A POS sensor's ``[[sensors]]`` table: the printer's line, its store, how receipts read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge.config.base import SensorBase, Slug, Strict

if TYPE_CHECKING:
    from drivers.pos.extract.templates import Template

__all__ = ["PosSensorConfig", "PosTemplateConfig"]


class PosTemplateConfig(Strict):
    """Named regexes for a shop whose receipts the default extractor misreads.

    Listed under the store's POS sensor (``[[sensors.templates]]``); fields the
    template does not name still come from the default extractor. Check one
    with ``mallsense pos test-template --store ID CAPTURE``.
    """

    store: Slug | None = Field(
        None,
        description="Store id the template applies to; default: the store of the POS sensor it"
        " is listed under (it must be that store).",
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Name written as the transactions' extractor; default: template-<store>.",
    )
    match: str | None = Field(
        None,
        description="Regular expression a receipt must contain for the template to apply (the"
        " shop's name, a header line); default: every receipt of the store.",
    )
    patterns: dict[str, str] = Field(
        description="Field name (total, receipt_no, printed_at, payment, items, item_count,"
        " refund, currency_pattern) to a regular expression over the masked text (multi-line"
        " mode). The value is the group named like the field or 'value', else the first group,"
        " else the whole match; 'items' runs over every line and needs a group named 'amount'"
        " ('name' and 'qty' optional); 'refund' marks a refund when it matches."
    )
    printed_at_format: str | None = Field(
        None, description="strptime format of the printed_at value, e.g. '%Y%m%d %H%M%S'."
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of this store's receipts."
    )

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        from drivers.pos.extract.templates import PATTERN_KEYS

        unknown = sorted(set(self.patterns) - set(PATTERN_KEYS))
        if unknown:
            raise ValueError(
                f"patterns (got {', '.join(unknown)}): expected field names among"
                f" {', '.join(PATTERN_KEYS)}"
            )
        name = self.name or (f"template-{self.store}" if self.store else "template")
        self._compiled(name)  # a bad regular expression names its key
        return self

    def as_template(self, store: str) -> Template:
        """The compiled template (``store``: the sensor's, for the default name)."""
        return self._compiled(self.name or f"template-{self.store or store}")

    def _compiled(self, name: str) -> Template:
        from drivers.pos.extract.templates import Template

        data: dict[str, object] = {"name": name, **self.patterns}
        for key in ("match", "printed_at_format", "currency"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return Template.from_dict(data)


class PosSensorConfig(SensorBase):
    """A serial line between a shop's POS terminal and its receipt printer."""

    type: Literal["pos"] = Field(description="Sensor kind.")
    store: Slug = Field(description="Store id written on this line's transactions.")
    counter_zone: Slug | None = Field(
        None,
        description="Zone at the till, where the customer stands while the receipt prints"
        " (privacy.attribution); default: this sensor's zone.",
    )
    port: str = Field(
        min_length=1,
        description="Serial port on the POS side, preferably its stable name, e.g."
        " /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K3ABC-if00-port0 (found again when the"
        " adapter is plugged back in).",
    )
    baudrate: int | Literal["auto"] = Field(
        "auto",
        description="Bits per second, or 'auto': asks the printer (passthrough) or listens to"
        " the POS at 9600, 19200, 38400, 57600 and 115200 and keeps the rate whose bytes decode"
        " as ESC/POS (it needs a receipt printed; the choice is logged).",
    )
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits.")
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N", description="Parity: N none, E even, O odd, M mark, S space."
    )
    stopbits: Literal["1", "1.5", "2"] = Field("1", description="Stop bits (1, 1.5 or 2).")
    flow: Literal["none", "rtscts", "xonxoff", "dsrdtr"] = Field(
        "none", description="Flow control, as the printer is set (its DIP switches)."
    )
    passthrough_port: str | None = Field(
        None,
        min_length=1,
        description="Second port, to the real printer: the box sits between POS and printer and"
        " forwards every byte at once, before any parsing, and the printer's replies back."
        " Printing then depends on the box running; a tap cable (read only) does not.",
    )
    encoding: str = Field(
        "auto",
        description="Text encoding of the printer at power-on: 'auto' (found from the first"
        " receipts: GB18030, Big5, UTF-8 or cp437; kept per printer), or set it: cp437, cp858,"
        " cp1252, gb18030 (Chinese printers printing raw GB18030), big5, utf-8...",
    )
    double_byte_encoding: str = Field(
        "gb18030",
        description="Encoding of text in Chinese mode (FS &): gb18030 (mainland China), big5"
        " (Taiwan, Hong Kong).",
    )
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency of the shop (CNY...), used when a receipt prints none or"
        " only '$' or '¥'.",
    )
    day_first: bool = Field(True, description="Read 03/04/2026 as 3 April (False: March 4).")
    idle_gap_s: float = Field(
        3.0, gt=0, le=600, description="Silence on the line that ends a receipt without a cut."
    )
    max_receipt_bytes: int = Field(
        65_536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="A receipt ends at this size (image data not counted), so noise on a"
        " misconfigured line cannot grow one endless receipt.",
    )
    raw_text_retention_h: float = Field(
        72,
        ge=0,
        le=720,
        description="Hours the masked receipt text stays on the box for a technician to check"
        " templates (`mallsense pos receipts`); 0 keeps none. It never leaves the box.",
    )
    templates: list[PosTemplateConfig] = Field(
        default_factory=list,
        description="Extraction templates for this store, tried in order; the first whose"
        " 'match' fits a receipt is used, else the default extractor.",
    )

    @field_validator("baudrate", mode="before")
    @classmethod
    def _rate_or_auto(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 50 <= value <= 4_000_000:
            return value
        raise ValueError("expected bits per second (9600, 19200, 38400, 57600, 115200) or 'auto'")

    @field_validator("stopbits", mode="before")
    @classmethod
    def _stopbits_as_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    @field_validator("encoding", "double_byte_encoding")
    @classmethod
    def _known_encoding(cls, value: str, info: ValidationInfo) -> str:
        from drivers.pos.escpos.codepages import codec_name, is_multibyte

        if value == "auto" and info.field_name == "encoding":
            return value
        if value == "auto":
            raise ValueError("expected a double-byte encoding (gb18030, big5), not 'auto'")
        try:
            codec_name(value)
        except LookupError:
            raise ValueError(
                f"expected 'auto' or a text encoding printers use: cp437, cp858, cp1252,"
                f" gb18030, big5, utf-8... ({value!r} is unknown)"
            ) from None
        if info.field_name == "double_byte_encoding" and not is_multibyte(value):
            raise ValueError(f"expected a double-byte encoding (gb18030, big5), not {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.passthrough_port is not None and self.passthrough_port == self.port:
            raise ValueError(
                f"passthrough_port (got {self.passthrough_port!r}): expected the printer's port,"
                " not the POS side's port"
            )
        for index, template in enumerate(self.templates):
            if template.store is not None and template.store != self.store:
                raise ValueError(
                    f"templates[{index}].store (got {template.store!r}): expected this sensor's"
                    f" store {self.store!r} (a template reads the receipts of its store's line)"
                )
        return self

    def compiled_templates(self) -> list[Template]:
        """The templates as the decoder takes them."""
        return [t.as_template(self.store) for t in self.templates]
