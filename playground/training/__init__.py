"""Training runs: the settings (:mod:`.config`, the only defaults), optimizers and schedules
(:mod:`.optim`), the network a run trains (:mod:`.model`), the loop in a background thread
(:mod:`.loop`), evaluation (:mod:`.evaluate`), the coach that reads the curves (:mod:`.coach`)
and the device (:mod:`.device`). Nothing here imports Streamlit."""
from .coach import Advice, diagnose, smooth
from .config import TORCHVISION_IMAGE_SIZE, RunConfig, TrainingError
from .device import available_devices, gpu_count, pick_device
from .evaluate import confusion_report, logits, loss_and_accuracy
from .loop import Run, train
from .model import ModelBundle, ModelSize, build_model, build_network, model_size, param_counts
from .optim import OPTIMIZERS, SCHEDULES, lr_schedule, make_optimizer, make_scheduler

__all__ = ["Advice", "diagnose", "smooth", "TORCHVISION_IMAGE_SIZE", "RunConfig", "TrainingError",
           "available_devices", "gpu_count", "pick_device", "confusion_report", "logits", "loss_and_accuracy",
           "Run", "train", "ModelBundle", "ModelSize", "build_model", "build_network", "model_size",
           "param_counts", "OPTIMIZERS", "SCHEDULES", "lr_schedule", "make_optimizer", "make_scheduler"]
