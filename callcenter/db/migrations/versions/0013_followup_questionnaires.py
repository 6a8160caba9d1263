"""Follow-up questionnaires (issue 16): the question bank, questionnaires and their stored versions, the
responses and answers given in them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TYPES = "'yes_no', 'single_choice', 'multiple_choice', 'scale', 'number', 'date', 'free_text', 'recorded'"
CHANNELS = "'phone', 'console', 'paper'"


def upgrade() -> None:
    op.create_table(
        "followup_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("bank_version", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"type IN ({TYPES})", name=op.f("ck_followup_questions_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_questions")),
        sa.UniqueConstraint("code", name=op.f("uq_followup_questions_code")),
    )
    op.create_table(
        "followup_questionnaires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("current_version", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_questionnaires")),
        sa.UniqueConstraint("code", name=op.f("uq_followup_questionnaires_code")),
    )
    op.create_table(
        "followup_questionnaire_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("source_yaml", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("review_status", sa.String(length=64), nullable=False),
        sa.Column("loaded_from", sa.String(length=500), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("loaded_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["questionnaire_id"], ["followup_questionnaires.id"],
                                name=op.f("fk_followup_questionnaire_versions_questionnaire_id_followup_questionnaires")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_questionnaire_versions")),
        sa.UniqueConstraint("questionnaire_id", "version",
                            name=op.f("uq_followup_questionnaire_versions_questionnaire_id_version")),
    )
    op.create_table(
        "followup_responses",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("questionnaire_version_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("study", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name=op.f("ck_followup_responses_channel")),
        sa.ForeignKeyConstraint(["questionnaire_version_id"], ["followup_questionnaire_versions.id"],
                                name=op.f("fk_followup_responses_questionnaire_version_id_followup_questionnaire_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_responses")),
    )
    op.create_index(op.f("ix_followup_responses_patient_id"), "followup_responses", ["patient_id"])
    op.create_index(op.f("ix_followup_responses_study"), "followup_responses", ["study"])
    op.create_table(
        "followup_answers",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("response_id", BIG_ID, nullable=False),
        sa.Column("questionnaire_version_id", sa.Integer(), nullable=False),
        sa.Column("question_code", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("answered_by", sa.String(length=16), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("red_flag_disposition", sa.String(length=64), nullable=True),
        sa.Column("red_flag_escalation", sa.String(length=32), nullable=True),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name=op.f("ck_followup_answers_channel")),
        sa.CheckConstraint("answered_by IN ('agent', 'automated')",
                           name=op.f("ck_followup_answers_answered_by")),
        sa.ForeignKeyConstraint(["response_id"], ["followup_responses.id"],
                                name=op.f("fk_followup_answers_response_id_followup_responses")),
        sa.ForeignKeyConstraint(["questionnaire_version_id"], ["followup_questionnaire_versions.id"],
                                name=op.f("fk_followup_answers_questionnaire_version_id_followup_questionnaire_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_answers")),
        sa.UniqueConstraint("response_id", "question_code",
                            name=op.f("uq_followup_answers_response_id_question_code")),
    )
    op.create_index(op.f("ix_followup_answers_question_code"), "followup_answers", ["question_code"])


def downgrade() -> None:
    op.drop_table("followup_answers")
    op.drop_table("followup_responses")
    op.drop_table("followup_questionnaire_versions")
    op.drop_table("followup_questionnaires")
    op.drop_table("followup_questions")
