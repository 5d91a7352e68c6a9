from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.path_list, name="path-list"),
]
