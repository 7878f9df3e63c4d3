"""Thin kopf glue: watches feed a work queue; reconcilers read, render, apply, report."""
