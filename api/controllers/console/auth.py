from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import client_ip, json_body, query_args
from api.controllers.console import api
from api.extensions.database import db
from api.extensions.runtime import get_runtime, get_settings
from api.libs.apidoc import doc
from api.schemas.auth import (
    ActivateCheckArgsSchema,
    ActivateCheckSchema,
    ActivateSchema,
    LoginSchema,
    LogoutSchema,
    RefreshTokenSchema,
    TokenResultSchema,
)
from api.schemas.base import ResultSchema
from api.services import auth_service
from api.services.auth_service import TokenPair

_login, _refresh, _logout = LoginSchema(), RefreshTokenSchema(), LogoutSchema()
_activate, _activate_check = ActivateSchema(), ActivateCheckArgsSchema()


def _pair(pair: TokenPair) -> dict:
    return {"result": "success", "data": {"access_token": pair.access_token, "refresh_token": pair.refresh_token,
                                          "expires_in": pair.expires_in}}


class LoginApi(Resource):
    @doc("Log in with email and password", body=LoginSchema, response=TokenResultSchema, auth="none",
         errors=(400, 401, 429))
    def post(self):
        args = json_body(_login)
        runtime = get_runtime()
        pair = auth_service.login(db.session, counters=runtime.counters, settings=runtime.settings,
                                  email=args["email"], password=args["password"], ip=client_ip())
        return _pair(pair)


class RefreshTokenApi(Resource):
    @doc("Rotate the refresh token", body=RefreshTokenSchema, response=TokenResultSchema, auth="none",
         errors=(400, 401))
    def post(self):
        args = json_body(_refresh)
        return _pair(auth_service.refresh(db.session, settings=get_settings(), refresh_token=args["refresh_token"]))


class LogoutApi(Resource):
    @doc("Revoke one refresh token, or all of the caller's", body=LogoutSchema, response=ResultSchema,
         errors=(401,))
    @console_login
    def post(self, principal):
        args = json_body(_logout, optional=True)
        auth_service.logout(db.session, account_id=principal.account_id, refresh_token=args["refresh_token"])
        return {"result": "success"}


class ActivateCheckApi(Resource):
    @doc("Check an invitation token", query=ActivateCheckArgsSchema, response=ActivateCheckSchema, auth="none")
    def get(self):
        args = query_args(_activate_check)
        data = auth_service.check_activation(db.session, email=args["email"], token=args["token"],
                                             workspace_id=args["workspace_id"])
        return {"is_valid": data is not None, "data": data}


class ActivateApi(Resource):
    @doc("Activate an invited account", body=ActivateSchema, response=ResultSchema, auth="none", errors=(400,))
    def post(self):
        args = json_body(_activate)
        auth_service.activate(db.session, email=args["email"], token=args["token"],
                              workspace_id=args["workspace_id"], name=args["name"], password=args["password"],
                              interface_language=args["interface_language"], timezone=args["timezone"])
        return {"result": "success"}


api.add_resource(LoginApi, "/login", endpoint="login")
api.add_resource(RefreshTokenApi, "/refresh-token", endpoint="refresh_token")
api.add_resource(LogoutApi, "/logout", endpoint="logout")
api.add_resource(ActivateCheckApi, "/activate/check", endpoint="activate_check")
api.add_resource(ActivateApi, "/activate", endpoint="activate")
