from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.path_list, name="path-list"),
    path("paths/<str:path_id>/", views.path_detail, name="path-detail"),
    path("teams/<slug:slug>/reminders/", views.team_reminders, name="team-reminders"),
]
