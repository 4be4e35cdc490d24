from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_TEXT: _ClassVar[Modality]
    MODALITY_IMAGE: _ClassVar[Modality]
    MODALITY_VECTOR: _ClassVar[Modality]

class ScoreMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_MODE_UNSPECIFIED: _ClassVar[ScoreMode]
    SCORE_MODE_RAW: _ClassVar[ScoreMode]
    SCORE_MODE_CALIBRATED: _ClassVar[ScoreMode]

class EditMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EDIT_MODE_UNSPECIFIED: _ClassVar[EditMode]
    EDIT_MODE_ADD: _ClassVar[EditMode]
    EDIT_MODE_ROTATE: _ClassVar[EditMode]
    EDIT_MODE_REMOVE: _ClassVar[EditMode]

class AnalogyMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALOGY_METHOD_UNSPECIFIED: _ClassVar[AnalogyMethod]
    ANALOGY_METHOD_COS_ADD: _ClassVar[AnalogyMethod]
    ANALOGY_METHOD_COS_MUL: _ClassVar[AnalogyMethod]

class ScoreForm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_FORM_UNSPECIFIED: _ClassVar[ScoreForm]
    SCORE_FORM_SUM: _ClassVar[ScoreForm]
    SCORE_FORM_PRODUCT: _ClassVar[ScoreForm]
MODALITY_UNSPECIFIED: Modality
MODALITY_TEXT: Modality
MODALITY_IMAGE: Modality
MODALITY_VECTOR: Modality
SCORE_MODE_UNSPECIFIED: ScoreMode
SCORE_MODE_RAW: ScoreMode
SCORE_MODE_CALIBRATED: ScoreMode
EDIT_MODE_UNSPECIFIED: EditMode
EDIT_MODE_ADD: EditMode
EDIT_MODE_ROTATE: EditMode
EDIT_MODE_REMOVE: EditMode
ANALOGY_METHOD_UNSPECIFIED: AnalogyMethod
ANALOGY_METHOD_COS_ADD: AnalogyMethod
ANALOGY_METHOD_COS_MUL: AnalogyMethod
SCORE_FORM_UNSPECIFIED: ScoreForm
SCORE_FORM_SUM: ScoreForm
SCORE_FORM_PRODUCT: ScoreForm

class Vector(_message.Message):
    __slots__ = ("dimension", "data")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    data: bytes
    def __init__(self, dimension: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("text", "image", "vector", "id", "mix", "edit", "analogy", "direction")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    ANALOGY_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    vector: Vector
    id: str
    mix: Mix
    edit: Edit
    analogy: Analogy
    direction: Direction
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., id: _Optional[str] = ..., mix: _Optional[_Union[Mix, _Mapping]] = ..., edit: _Optional[_Union[Edit, _Mapping]] = ..., analogy: _Optional[_Union[Analogy, _Mapping]] = ..., direction: _Optional[_Union[Direction, _Mapping]] = ...) -> None: ...

class WeightedQuery(_message.Message):
    __slots__ = ("query", "weight")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    query: Query
    weight: float
    def __init__(self, query: _Optional[_Union[Query, _Mapping]] = ..., weight: _Optional[float] = ...) -> None: ...

class Mix(_message.Message):
    __slots__ = ("parts",)
    PARTS_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[WeightedQuery]
    def __init__(self, parts: _Optional[_Iterable[_Union[WeightedQuery, _Mapping]]] = ...) -> None: ...

class Direction(_message.Message):
    __slots__ = ("text_pair", "examples", "vector", "name")
    TEXT_PAIR_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    text_pair: TextPair
    examples: Examples
    vector: Vector
    name: str
    def __init__(self, text_pair: _Optional[_Union[TextPair, _Mapping]] = ..., examples: _Optional[_Union[Examples, _Mapping]] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class TextPair(_message.Message):
    __slots__ = ("neutral", "target", "use_templates")
    NEUTRAL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    USE_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    neutral: str
    target: str
    use_templates: bool
    def __init__(self, neutral: _Optional[str] = ..., target: _Optional[str] = ..., use_templates: _Optional[bool] = ...) -> None: ...

class Examples(_message.Message):
    __slots__ = ("positive", "negative")
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    positive: _containers.RepeatedCompositeFieldContainer[Query]
    negative: _containers.RepeatedCompositeFieldContainer[Query]
    def __init__(self, positive: _Optional[_Iterable[_Union[Query, _Mapping]]] = ..., negative: _Optional[_Iterable[_Union[Query, _Mapping]]] = ...) -> None: ...

class Edit(_message.Message):
    __slots__ = ("base", "direction", "mode", "strength")
    BASE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    base: Query
    direction: Direction
    mode: EditMode
    strength: float
    def __init__(self, base: _Optional[_Union[Query, _Mapping]] = ..., direction: _Optional[_Union[Direction, _Mapping]] = ..., mode: _Optional[_Union[EditMode, str]] = ..., strength: _Optional[float] = ...) -> None: ...

class Analogy(_message.Message):
    __slots__ = ("a", "a_star", "b", "method", "include_inputs")
    A_FIELD_NUMBER: _ClassVar[int]
    A_STAR_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INPUTS_FIELD_NUMBER: _ClassVar[int]
    a: Query
    a_star: Query
    b: Query
    method: AnalogyMethod
    include_inputs: bool
    def __init__(self, a: _Optional[_Union[Query, _Mapping]] = ..., a_star: _Optional[_Union[Query, _Mapping]] = ..., b: _Optional[_Union[Query, _Mapping]] = ..., method: _Optional[_Union[AnalogyMethod, str]] = ..., include_inputs: _Optional[bool] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("must",)
    MUST_FIELD_NUMBER: _ClassVar[int]
    must: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, must: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("field", "equals", "any_of", "range")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    equals: _struct_pb2.Value
    any_of: _struct_pb2.ListValue
    range: Range
    def __init__(self, field: _Optional[str] = ..., equals: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., any_of: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., range: _Optional[_Union[Range, _Mapping]] = ...) -> None: ...

class Range(_message.Message):
    __slots__ = ("gt", "gte", "lt", "lte")
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    gt: float
    gte: float
    lt: float
    lte: float
    def __init__(self, gt: _Optional[float] = ..., gte: _Optional[float] = ..., lt: _Optional[float] = ..., lte: _Optional[float] = ...) -> None: ...

class SearchParams(_message.Message):
    __slots__ = ("ef_search", "nprobe")
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    ef_search: int
    nprobe: int
    def __init__(self, ef_search: _Optional[int] = ..., nprobe: _Optional[int] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "score", "modality", "payload", "content", "vector", "explanation")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    modality: Modality
    payload: _struct_pb2.Struct
    content: str
    vector: Vector
    explanation: Explanation
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., modality: _Optional[_Union[Modality, str]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., content: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("form", "terms", "projections", "cosine", "calibration_offset", "calibration_scale", "redundancy")
    FORM_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SCALE_FIELD_NUMBER: _ClassVar[int]
    REDUNDANCY_FIELD_NUMBER: _ClassVar[int]
    form: ScoreForm
    terms: _containers.RepeatedCompositeFieldContainer[ScoreTerm]
    projections: _containers.RepeatedCompositeFieldContainer[DirectionProjection]
    cosine: float
    calibration_offset: float
    calibration_scale: float
    redundancy: float
    def __init__(self, form: _Optional[_Union[ScoreForm, str]] = ..., terms: _Optional[_Iterable[_Union[ScoreTerm, _Mapping]]] = ..., projections: _Optional[_Iterable[_Union[DirectionProjection, _Mapping]]] = ..., cosine: _Optional[float] = ..., calibration_offset: _Optional[float] = ..., calibration_scale: _Optional[float] = ..., redundancy: _Optional[float] = ...) -> None: ...

class ScoreTerm(_message.Message):
    __slots__ = ("path", "cosine", "coefficient", "share", "factor", "exponent")
    PATH_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    EXPONENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    cosine: float
    coefficient: float
    share: float
    factor: float
    exponent: int
    def __init__(self, path: _Optional[str] = ..., cosine: _Optional[float] = ..., coefficient: _Optional[float] = ..., share: _Optional[float] = ..., factor: _Optional[float] = ..., exponent: _Optional[int] = ...) -> None: ...

class DirectionProjection(_message.Message):
    __slots__ = ("path", "name", "projection")
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    path: str
    name: str
    projection: float
    def __init__(self, path: _Optional[str] = ..., name: _Optional[str] = ..., projection: _Optional[float] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "modality", "payload", "content", "vector", "sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    modality: Modality
    payload: _struct_pb2.Struct
    content: str
    vector: Vector
    sequence: int
    def __init__(self, id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., content: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...
