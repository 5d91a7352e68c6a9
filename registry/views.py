from django.contrib.auth.decorators import login_required
from django.shortcuts import render

def path_list(request):
    pass
