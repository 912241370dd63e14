import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelledger.core.introspection import describe_estimator, json_safe


def test_pipeline_description_has_class_params_and_features():
    frame = pd.DataFrame({"age": [1.0, 2, 3, 4], "income": [3.0, 1, 2, 5]})
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.3)).fit(frame, [0, 1, 0, 1])
    description = describe_estimator(pipeline)
    assert description.estimator_class == "sklearn.pipeline.Pipeline"
    assert description.parameters["logisticregression__C"] == 0.3
    assert description.parameters["logisticregression"] == "LogisticRegression"
    assert description.feature_names == ("age", "income")
    assert description.n_features == 2


def test_json_safe_handles_numpy_and_non_finite():
    assert json_safe(np.float64(1.5)) == 1.5
    assert json_safe(np.int64(3)) == 3
    assert json_safe(float("nan")) == "nan"
    assert json_safe((1, "a")) == [1, "a"]
